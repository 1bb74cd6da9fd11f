"""Attention heads of ``torch.nn.MultiheadAttention`` (torchvision's ViT) made interceptable.

``nn.MultiheadAttention`` computes every head and the output projection in one fused call, so
no hook can see the heads. Inside :func:`split_heads` each such module temporarily runs an
equivalent explicit forward that calls ``out_proj`` as a module, so a pre-hook on ``out_proj``
sees the concatenated head outputs (head h = features h*d .. (h+1)*d). The modules' own
``forward`` is restored on exit, also on error.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from .errors import CausalnetInputError


def _explicit_forward(mha: nn.MultiheadAttention):
    def forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        if not mha.batch_first or not mha._qkv_same_embed_dim or key_padding_mask is not None \
                or mha.bias_k is not None or mha.add_zero_attn:
            raise CausalnetInputError(
                "causalnet intervenes on heads of batch-first self-attention without key padding "
                "masks or bias_k/add_zero_attn (as in torchvision's ViT); this MultiheadAttention "
                "uses another form. Pass ignore=[its name] (`causalnet build --ignore NAME`) to leave its heads out")
        b, t, e = query.shape
        h = mha.num_heads
        w_q, w_k, w_v = mha.in_proj_weight.chunk(3)
        b_q, b_k, b_v = (mha.in_proj_bias.chunk(3) if mha.in_proj_bias is not None else (None,) * 3)
        q = F.linear(query, w_q, b_q).view(b, t, h, e // h).transpose(1, 2)
        k = F.linear(key, w_k, b_k).view(b, key.shape[1], h, e // h).transpose(1, 2)
        v = F.linear(value, w_v, b_v).view(b, value.shape[1], h, e // h).transpose(1, 2)
        dropout = mha.dropout if mha.training else 0.0
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout,
                                               is_causal=is_causal)
        out = mha.out_proj(heads.transpose(1, 2).reshape(b, t, e))
        return out, None
    return forward


def has_fused_attention(model: nn.Module) -> bool:
    return any(isinstance(m, nn.MultiheadAttention) for m in model.modules())


@contextmanager
def split_heads(model: nn.Module):
    """Within the block, every ``nn.MultiheadAttention`` of ``model`` calls ``out_proj`` as a
    module (see the module docstring)."""
    patched = []
    try:
        for module in model.modules():
            if isinstance(module, nn.MultiheadAttention) and "forward" not in module.__dict__:
                module.forward = _explicit_forward(module)
                patched.append(module)
        yield
    finally:
        for module in patched:
            del module.forward


def mha_matches_reference(mha: nn.MultiheadAttention, x: torch.Tensor) -> bool:
    """Whether the explicit forward equals the fused one on ``x`` (used by tests)."""
    with torch.no_grad():
        ref = mha(x, x, x, need_weights=False)[0]
        out = _explicit_forward(mha)(x, x, x, need_weights=False)[0]
    return torch.allclose(ref, out, atol=1e-5, rtol=1e-4)
