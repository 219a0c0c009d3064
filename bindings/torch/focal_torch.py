"""Loads focal's PyTorch ops (libfocal_torch.so) and re-exports them.

    import focal_torch
    loss = focal_torch.sigmoid_focal_loss(x, t, alpha=0.25, gamma=2.0, reduction="sum")

The library is found through the FOCAL_TORCH_LIBRARY environment variable, or next to this file.
"""
import os

import torch

_path = os.environ.get("FOCAL_TORCH_LIBRARY",
                       os.path.join(os.path.dirname(os.path.abspath(__file__)), "libfocal_torch.so"))
torch.ops.load_library(_path)


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss, computed by focal."""
    return torch.ops.focal.sigmoid_focal_loss(inputs, targets, float(alpha), float(gamma), reduction)


def sigmoid_focal_loss_labels(logits, labels, alpha=0.25, gamma=2.0, normalizer=1.0):
    """Sum over non-ignored anchors of the focal loss against labels (-1 background, -2 ignore)."""
    return torch.ops.focal.sigmoid_focal_loss_labels(logits, labels, float(alpha), float(gamma),
                                                     float(normalizer))


def softmax_focal_loss(logits, labels, gamma=2.0, alpha=1.0, normalizer=1.0):
    """focal::SoftmaxFocalLoss over the rows of logits, labels in [0, K) or -2 (ignore)."""
    return torch.ops.focal.softmax_focal_loss(logits, labels, float(gamma), float(alpha),
                                              float(normalizer))
