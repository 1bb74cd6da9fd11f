"""Node ids: the one encoding of "unit ``j`` of layer ``name``" as a graph node, and its parse.

A unit's node id is ``"<layer>:<j>"`` (``"<layer>:h<j>"`` for an attention head); a class's
output logit is ``"logit:<c>"``. Every package builds and reads ids through :func:`node_id`,
:func:`parse_node_id` and :func:`logit_id`, never by formatting or splitting strings itself.
"""

from __future__ import annotations

CONV, LINEAR, HEAD, MLP = "conv_channel", "linear_neuron", "attention_head", "mlp_neuron"
UNIT_KINDS = (CONV, LINEAR, HEAD, MLP)
LOGIT_LAYER = "logit"

__all__ = ["node_id", "parse_node_id", "logit_id", "UNIT_KINDS", "CONV", "LINEAR", "HEAD", "MLP",
           "LOGIT_LAYER"]


def node_id(layer_name: str, unit: int, kind: str) -> str:
    """The node id of unit ``unit`` of layer ``layer_name``.

    Args:
        layer_name: the unit layer's name (a module path such as ``"layer1.0.conv1"``).
        unit: the unit's index in its layer.
        kind: the layer's unit kind (one of :data:`UNIT_KINDS`); attention heads are written
            ``h<unit>``.

    Returns:
        ``"<layer_name>:<unit>"``, or ``"<layer_name>:h<unit>"`` for ``kind="attention_head"``.
    """
    return f"{layer_name}:h{int(unit)}" if kind == HEAD else f"{layer_name}:{int(unit)}"


def logit_id(c: int) -> str:
    """Node id of class ``c``'s output logit (``"logit:3"``)."""
    return f"{LOGIT_LAYER}:{int(c)}"


def parse_node_id(text: str) -> tuple[str, int]:
    """The layer name and unit index a node id encodes (the inverse of :func:`node_id`).

    Args:
        text: a node id such as ``"fc1:3"``, ``"blocks.0.attn:h2"`` or ``"logit:7"``.

    Returns:
        ``(layer_name, unit)``; for a logit id, ``("logit", c)``.

    Raises:
        ValueError: when ``text`` is not ``<layer>:<index>`` or ``<layer>:h<index>``.
    """
    layer, sep, j = str(text).rpartition(":")
    digits = j[1:] if j.startswith("h") else j
    if not sep or not layer or not digits.isdigit():
        raise ValueError(f"{text!r} is not a node id (<layer>:<index> or <layer>:h<index>)")
    return layer, int(digits)
