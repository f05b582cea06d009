"""The CPU fast paths under hwlib.model, same math: oneDNN linears, packed decoding weights.

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


def _onednn_bf16() -> bool:
    try:  # oneDNN refuses bfloat16 on CPUs without AVX-512 (PyTorch checks it up front)
        return _ONEDNN and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


_ONEDNN = _onednn_linear()
_ONEDNN_BF16 = _onednn_bf16()
_compiling = getattr(torch.compiler, "is_compiling", lambda: False)  # PyTorch < 2.3 lacks it


class _OneDNNLinear(torch.autograd.Function):
    """x @ w^T through oneDNN, its gradients through torch's matmul: on the 42M model's shapes
    (2048 rows, AMD EPYC) oneDNN ran the forward product 1.05-1.15x faster than MKL's float32
    GEMM, while for the gradients, whose operands arrive transposed, MKL was 1.0-1.5x faster."""

    @staticmethod
    def forward(ctx, x, w):
        ctx.save_for_backward(x, w)
        return torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        gx = gw = None
        if ctx.needs_input_grad[0]:
            gx = grad @ w  # (..., out) @ (out, in)
        if ctx.needs_input_grad[1]:
            gw = grad.flatten(0, -2).t() @ x.flatten(0, -2)  # (out, rows) @ (rows, in)
        return gx, gw


class Linear(nn.Linear):
    """nn.Linear without bias (LLaMA has none); on CPU, float32 products of many rows go through
    oneDNN. Decoding uses LayerCache's packed copies and `decode_linear` instead."""

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
    place, one position per step) and its weights, packed once per `generate` call.

    Packed (`pack_decode_weights`): fused along the output dimension (query|key|value, w1|w3),
    one product instead of three (or two), in the layout `decode_linear` reads fastest. The
    parameters (and so checkpoints) keep the course's separate `compute_query`, `w1`, ... matrices.
    """

    k: torch.Tensor  # (B, n_kv_heads, max_seq_len, head_dim)
    v: torch.Tensor
    wqkv: torch.Tensor  # query|key|value: ((n_heads + 2 * n_kv_heads) * head_dim, dim), packed
    wo: torch.Tensor  # (dim, n_heads * head_dim), packed
    w13: torch.Tensor  # w1|w3: (2 * hidden_dim, dim), packed
    w2: torch.Tensor  # (dim, hidden_dim), packed


def pack_decode_weights(weights: list[torch.Tensor], dtype: torch.dtype, rows: int) -> torch.Tensor:
    """Matrices (out_i, in) stacked along the output, in `dtype` and the layout `decode_linear`
    reads fastest for products of `rows` rows (the batch being decoded).

    On CPU, float32, one row: (blocks, in, out / blocks), a block of columns per thread, which
    torch.bmm multiplies in parallel, each thread streaming its block through MKL's one-row
    product; 1.3x faster than oneDNN on (out, in) and 1.5x faster than one (in, out) matrix on
    one thread (42M model, 2 threads: 6.8 vs 7.7 and 10.4 ms a token). Otherwise (out, in).
    """
    w = weights[0].to(dtype) if len(weights) == 1 else torch.cat([m.to(dtype) for m in weights])
    out, n_in = w.shape
    blocks = torch.get_num_threads()
    if w.device.type != "cpu" or w.dtype != torch.float32 or rows != 1 or out % blocks:
        return w
    return w.t().reshape(n_in, blocks, out // blocks).permute(1, 0, 2).contiguous()


def decode_linear(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """x @ W^T for W packed by `pack_decode_weights`, in W's dtype (bfloat16 decode weights),
    returned in x's dtype.

    A decoding step multiplies few rows: memory-bound, every weight read once per token. With
    (out, in) weights on CPU oneDNN's product streams them ~2x faster than F.linear's GEMM there
    (7.7 vs 15.5 ms a token, float32; 5.5 vs 8.9 bfloat16).
    """
    if x.dtype != w.dtype:
        return decode_linear(x.to(w.dtype), w).to(x.dtype)
    if w.dim() == 3:  # (blocks, in, out / blocks): every block multiplies the same rows
        blocks, n_in, width = w.shape
        rows = x.reshape(1, -1, n_in)
        y = torch.bmm(rows.expand(blocks, -1, -1), w)  # (blocks, rows, width)
        return y.transpose(0, 1).reshape(*x.shape[:-1], blocks * width)
    if (_ONEDNN and x.device.type == "cpu" and not _compiling()
            and (w.dtype == torch.float32 or (w.dtype == torch.bfloat16 and _ONEDNN_BF16))):
        return torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
    return F.linear(x, w)
