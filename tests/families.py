"""Tiny real models of the Llama-style families (Llama, Mistral, Qwen2, Qwen3) with either kind of
tokenizer, trained here with `tokenizers` and saved with `save_pretrained`: the same loading
code runs as for a model from the Hub, and nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import SENTENCES, build_tokenizer

# Every switch the runtime has, each on a model of its own: name -> (config class, config kwargs).
VARIANTS: dict[str, tuple[str, dict]] = {
    "llama-gqa": ("LlamaConfig", {"num_key_value_heads": 2}),
    "llama-head-dim": ("LlamaConfig", {"num_key_value_heads": 2, "head_dim": 24}),
    "llama3-rope": (
        "LlamaConfig",
        {
            "num_key_value_heads": 1,
            "rope_scaling": {
                "rope_type": "llama3",
                "factor": 8.0,
                "low_freq_factor": 1.0,
                "high_freq_factor": 4.0,
                "original_max_position_embeddings": 64,
            },
        },
    ),
    "llama-linear-rope": ("LlamaConfig", {"rope_scaling": {"rope_type": "linear", "factor": 2.0}}),
    "llama-untied-biases": (
        "LlamaConfig",
        {"num_key_value_heads": 2, "tie_word_embeddings": False, "attention_bias": True, "mlp_bias": True},
    ),
    "mistral": ("MistralConfig", {"num_key_value_heads": 2, "sliding_window": 4096, "tie_word_embeddings": False}),
    "qwen2": ("Qwen2Config", {"num_key_value_heads": 1, "tie_word_embeddings": True}),
    "qwen3": ("Qwen3Config", {"num_key_value_heads": 2, "head_dim": 24, "tie_word_embeddings": True}),
}


def build_sentencepiece_tokenizer(directory: Path, corpus: str, vocab_size: int = 300):
    """A Llama-2-style tokenizer: BPE over `▁`-marked words with byte-fallback pieces (`<0xE2>`)
    for characters it has not seen, and BOS `<s>` put in front of every text."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<unk>", "<s>", "</s>"]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials)
    learner = Tokenizer(models.BPE(unk_token="<unk>"))
    learner.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    learner.train_from_iterator([corpus] * 20, trainer)
    vocab = learner.get_vocab()
    for byte in range(256):  # SentencePiece's byte pieces, after the learned ones
        vocab.setdefault(f"<0x{byte:02X}>", len(vocab))
    merges = [tuple(merge) for merge in _merges(learner)]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tokenizer.add_special_tokens(specials)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
    tokenizer.decoder = decoders.Sequence(
        [decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)]
    )
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(directory)
    return fast


def _merges(tokenizer) -> list[list[str]]:
    import json

    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [m.split(" ") if isinstance(m, str) else m for m in merges]


def build_family_model(
    directory: Path,
    variant: str = "llama-gqa",
    sentencepiece: bool = False,
    seed: int = 0,
    eos_ids: list[int] | None = None,
    n_layer: int = 2,
) -> Path:
    """Save a tiny random model of `variant` (see VARIANTS) with a byte-level BPE tokenizer, or
    with `sentencepiece` a Llama-2-style one; `eos_ids` go into its generation_config.json."""
    import torch
    import transformers

    directory.mkdir(parents=True, exist_ok=True)
    corpus = " ".join(SENTENCES)  # no wide characters: the SentencePiece kind falls back to bytes for them
    if sentencepiece:
        tokenizer = build_sentencepiece_tokenizer(directory, corpus)
    else:
        tokenizer = build_tokenizer(directory, corpus)
    config_class, switches = VARIANTS[variant]
    config = getattr(transformers, config_class)(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=96,
        num_hidden_layers=n_layer,
        num_attention_heads=4,
        max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **switches,
    )
    torch.manual_seed(seed)
    model = transformers.AutoModelForCausalLM.from_config(config)
    with torch.no_grad():  # norms start at 1 and biases at 0: make every switch change the output
        for name, parameter in model.named_parameters():
            if "norm" in name or name.endswith("bias"):
                parameter.add_(torch.randn_like(parameter) * 0.3)
    model.save_pretrained(directory)
    if eos_ids is not None:
        transformers.GenerationConfig(eos_token_id=eos_ids, bos_token_id=tokenizer.bos_token_id).save_pretrained(
            directory
        )
    return directory
