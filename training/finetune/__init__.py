"""`isit train --fine-tune`: the backbone's last stage(s) trained with the head.

The frozen trunk runs once per photo (and its mirror image, and the augmented views) and
its activations at the cut are cached (:mod:`~training.finetune.views`); the tail is
trained in Keras on them (:mod:`~training.finetune.tune`), every cross-validation fold on
its own training photos (:mod:`~training.finetune.protocol`); the fine-tuned network is
exported with tf2onnx as a backbone ONNX that the rest of training treats like any other
(:mod:`~training.finetune.export`). Cuts per backbone: :mod:`~training.finetune.stages`.
"""
