"""CPU inference helpers shared by the roads nets (anonymiser detectors, damage grid model).

* `fold_batch_norms`: Conv2d -> BatchNorm2d pairs folded into one Conv2d (inference only; the
  same function up to float rounding, one pass over each feature map less).
* `BFloat16`: a net run in bfloat16 (float32 accumulation inside oneDNN), float32 in and out,
  used only where the CPU has native bfloat16 (`preprocess.has_native_bf16`: AVX512-BF16 or
  AMX), where it measured 1.6 to 2.5 times faster on the 640 x 360 frame nets (issue 19's
  throughput pass, docs/roads.md); elsewhere the float32 net runs.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def fold_batch_norms(net: nn.Module) -> nn.Module:
    """`net` (in eval mode) with every Conv2d -> BatchNorm2d pair of its Sequentials replaced
    by one Conv2d with the batch norm folded in (the same function up to float rounding)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for seq in [m for m in net.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            if isinstance(seq[i], nn.Conv2d) and isinstance(seq[i + 1], nn.BatchNorm2d):
                seq[i], seq[i + 1] = fuse_conv_bn_eval(seq[i], seq[i + 1]), nn.Identity()
    return net


class BFloat16(nn.Module):
    """A copy of `net` with its weights in bfloat16: the input is cast to bfloat16 and the
    outputs (a tensor or a tuple of tensors) back to float32."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).to(torch.bfloat16)

    def forward(self, x: torch.Tensor):
        out = self.net(x.to(torch.bfloat16))
        return tuple(o.float() for o in out) if isinstance(out, tuple) else out.float()
