"""fcn_lesson: the module behind the book "FCN, step by step".

Every chapter imports it, so that each mechanism of the Fully Convolutional
Network (Long, Shelhamer & Darrell, CVPR 2015) is written once, tested, and
reused. Where things go:

- the mechanisms: ``geometry`` (where pixels go, crops), ``surgery`` (bilinear
  kernels, convolutionalization, transplants), ``stitch`` (shift-and-stitch);
- the networks: ``models`` (the classifier, FCN-32s/16s/8s), ``descendants``
  (chapter 9's dilated and U-Net networks), ``registry`` (every model by name:
  a new model is registered there);
- the data and the scores: ``data`` (the scenes, VOC and SBD), ``metrics``
  (the paper's four scores), ``scales`` (scores by the thickness of shapes);
- the evidence: ``evidence`` (the shipped models' scores, stored scene by
  scene; the arms and comparisons the chapters draw), ``stats`` (intervals
  over seeds and scenes, and the verdicts they allow);
- training: ``train`` (one ``TrainConfig``, one ``fit``, one ``TrainResult``),
  ``plans`` (what is trained from what, run by one loop), ``recipe`` and
  ``fullscale`` (the plans the book runs on its scenes and on VOC: a new plan
  goes there), ``checkpoints`` (self-describing, atomic), ``folders`` (where
  commands may write);
- the book: ``viz`` (pictures), ``checks`` (the exercises' checkers),
  ``notebooks`` (the Colab cell, the student edition), ``cli`` (the commands).

Words with one meaning each: a *crop* is an alignment offset (a random cut of
an image is a *patch*); a *stage* is one training run of a *plan* (a VGG
*block* is a group of layers ending in a pool); a *recipe* is the scale and
settings the plans of one dataset are made from; a *schedule* is how the
learning rate changes over the steps; an *arm* is a row of an experiment (one
model trained from each of its seeds), and a *verdict* what an interval over
seeds and scenes allows to be said of two arms.

Submodules load when first used, so ``python -m fcn_lesson`` can answer a
Ctrl-C while torch loads.
"""
from importlib import import_module

__version__ = "0.1.0"
#: Where the book and this module live; Colab installs ``fcn_lesson`` from here, from :data:`BRANCH`
#: (``fcn_lesson.notebooks.setup_cell``), and ``_config.yml``'s launch buttons point here too.
REPOSITORY = "https://github.com/fcn-step-by-step/fcn-step-by-step"
#: The branch the launch buttons open the notebooks from and Colab installs the module from: one
#: branch for both, so that a chapter never runs against another version of the module.
BRANCH = "main"
__all__ = ["BRANCH", "REPOSITORY", "FCN8s", "FCN16s", "FCN32s", "geometry", "metrics", "models", "surgery"]

_FROM_MODELS = ("FCN8s", "FCN16s", "FCN32s")


def __getattr__(name: str):
    if name in _FROM_MODELS:
        return getattr(import_module(".models", __name__), name)
    try:
        return import_module(f".{name}", __name__)
    except ModuleNotFoundError as err:
        if err.name != f"{__name__}.{name}":
            raise
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
