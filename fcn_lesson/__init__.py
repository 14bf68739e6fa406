"""fcn_lesson: the module behind the book "FCN, step by step".

Every chapter imports it, so that each mechanism of the Fully Convolutional
Network (Long, Shelhamer & Darrell, CVPR 2015) is written once, tested, and
reused: ``geometry`` (where pixels go, crops), ``surgery`` (bilinear kernels,
convolutionalization, VGG16 transplant), ``models`` (FCN-32s/16s/8s) and
``metrics`` (the paper's four scores).
"""
from . import geometry, metrics, models, surgery
from .models import FCN8s, FCN16s, FCN32s

__version__ = "0.1.0"
__all__ = ["FCN8s", "FCN16s", "FCN32s", "geometry", "metrics", "models", "surgery"]
