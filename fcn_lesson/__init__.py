"""fcn_lesson: the module behind the book "FCN, step by step".

Every chapter imports it, so that each mechanism of the Fully Convolutional
Network (Long, Shelhamer & Darrell, CVPR 2015) is written once, tested, and
reused: ``geometry`` (where pixels go, crops), ``surgery`` (bilinear kernels,
convolutionalization, transplants), ``models`` (the classifier, FCN-32s/16s/8s),
``metrics`` (the paper's four scores), ``data`` (the scenes, VOC and SBD),
``train`` (the training engine and scoring), ``plans`` (what is trained from
what, run by one loop), ``checkpoints`` (self-describing, atomic),
``recipe`` and ``fullscale`` (what the book trains on its scenes and on VOC),
``folders`` (where commands may write), ``viz`` (pictures) and ``checks``
(the exercises' checkers).
"""
from . import geometry, metrics, models, surgery
from .models import FCN8s, FCN16s, FCN32s

__version__ = "0.1.0"
#: Where the book and this module live; Colab installs ``fcn_lesson`` from here, at tag ``v<__version__>``
#: (``fcn_lesson.notebooks.setup_cell``), and ``_config.yml``'s launch buttons point here too.
REPOSITORY = "https://github.com/fcn-step-by-step/fcn-step-by-step"
__all__ = ["REPOSITORY", "FCN8s", "FCN16s", "FCN32s", "geometry", "metrics", "models", "surgery"]
