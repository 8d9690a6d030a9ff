"""LoRA adapters as GGUF files that llama.cpp applies to the base model at load time.

The layout is llama.cpp's adapter format (what its ``convert_lora_to_gguf.py`` writes):
``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha``, and for each
adapted weight ``<gguf name>.weight.lora_a`` (rank by in) and ``.lora_b`` (out by rank).
Tensor names come from gguf-py's map of Hugging Face names. llama.cpp stores the query
and key projections of llama models with their rows permuted for its rotary embedding
(transformers undoes that when it loads a GGUF), so ``lora_b`` of those two is permuted
the same way here.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np
import torch

LORA_A = ".lora_A.weight"
LORA_B = ".lora_B.weight"


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's row order of a llama query/key projection (``convert_hf_to_gguf``)."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_lora_gguf(
    state: dict[str, torch.Tensor],
    path: Path,
    *,
    architecture: str,
    n_layers: int,
    n_head: int,
    n_head_kv: int,
    alpha: float,
) -> None:
    """Write a peft LoRA state dict (``...q_proj.lora_A.weight``) as a GGUF adapter."""
    arch = next(a for a, name in gguf.MODEL_ARCH_NAMES.items() if name == architecture)
    names = gguf.get_tensor_name_map(arch, n_layers)
    tmp = path.with_suffix(".tmp")
    writer = gguf.GGUFWriter(str(tmp), architecture)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", alpha)
    written = 0
    for key, tensor in sorted(state.items()):
        if key.endswith(LORA_A):
            module, part = key[: -len(LORA_A)], "lora_a"
        elif key.endswith(LORA_B):
            module, part = key[: -len(LORA_B)], "lora_b"
        else:
            continue
        hf_name = module.removeprefix("base_model.model.")
        gguf_name = names.get_name(hf_name)
        if gguf_name is None:
            raise ValueError(f"no GGUF name for {hf_name!r}")
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if part == "lora_b" and architecture == "llama":
            if hf_name.endswith("q_proj"):
                array = _permute(array, n_head)
            elif hf_name.endswith("k_proj"):
                array = _permute(array, n_head_kv)
        writer.add_tensor(f"{gguf_name}.weight.{part}", np.ascontiguousarray(array))
        written += 1
    if not written:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise ValueError("the state holds no LoRA weights")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(path)
