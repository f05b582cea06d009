"""The CPU fast paths under hwlib.model, same math: oneDNN float32 linears, packed decode weights.

    from hwlib.kernels import Linear, LayerCache     # hwlib.model re-exports both

Each path is checked against the plain computation in tests/test_model.py (values and gradients of
`Linear`, packed weights against the separate matrices, cached against recomputed generation).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


def _onednn_linear() -> bool:
    try:  # the oneDNN kernel behind torch.compile's CPU linears; absent in builds without oneDNN
        return torch.backends.mkldnn.is_available() and bool(torch.ops.mkldnn._linear_pointwise)
    except (AttributeError, RuntimeError):
        return False


_ONEDNN = _onednn_linear()
_compiling = getattr(torch.compiler, "is_compiling", lambda: False)  # PyTorch < 2.3 lacks it


class _OneDNNLinear(torch.autograd.Function):
    """x @ w^T and its gradients through oneDNN: MKL's float32 GEMM (torch's CPU matmul) ran
    1.1-1.4x slower on the 42M model's shapes on the development CPU (an AMD EPYC)."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        flat_grad = grad.flatten(0, -2)  # (rows, out)
        gx = gw = None
        if ctx.needs_input_grad[0]:  # grad @ w
            gx = torch.ops.mkldnn._linear_pointwise(grad, w.t().contiguous(), None, "none", [], "")
        if ctx.needs_input_grad[1]:  # grad^T @ x
            gw = torch.ops.mkldnn._linear_pointwise(
                flat_grad.t(), x.flatten(0, -2).t(), None, "none", [], "")
        return gx, gw


class Linear(nn.Linear):
    """nn.Linear without bias (LLaMA has none); on CPU, float32 products of many rows go through
    oneDNN. Decoding uses LayerCache's packed copies instead."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__(in_features, out_features, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (_ONEDNN and x.device.type == "cpu" and x.dtype == self.weight.dtype == torch.float32
                and x.numel() > 16 * self.in_features and not _compiling()):
            return _OneDNNLinear.apply(x, self.weight)
        return F.linear(x, self.weight)


@dataclass
class LayerCache:
    """One layer's state for token-by-token decoding: its keys and values so far (written in
    place, one position per step) and its weights packed once per `generate` call.

    Packed means transposed to (in, out) and fused (query|key|value, w1|w3): on CPU a (1, in) @
    (in, out) product streams the weights at memory speed while F.linear's (1, in) @ (out, in)^T
    ran ~2x slower, and fusing halves the number of small matmuls per token. The parameters (and
    so checkpoints) keep the course's separate `compute_query`, `w1`, ... matrices.
    """

    k: torch.Tensor  # (B, n_kv_heads, max_seq_len, head_dim)
    v: torch.Tensor
    wqkv: torch.Tensor  # (dim, (n_heads + 2 * n_kv_heads) * head_dim)
    wo: torch.Tensor  # (n_heads * head_dim, dim)
    w13: torch.Tensor  # (dim, 2 * hidden_dim)
    w2: torch.Tensor  # (hidden_dim, dim)


def packed_mm(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x @ w in w's dtype (bf16 packed weights), returned in x's dtype."""
    return x @ w if x.dtype == w.dtype else (x.to(w.dtype) @ w).to(x.dtype)
