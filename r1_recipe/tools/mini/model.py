"""A tiny Qwen2 causal LM and a byte-level BPE tokenizer trained on the toy task's text, built locally (no
downloads)."""

from __future__ import annotations

EOS = "<|endoftext|>"
PAD = "<|pad|>"


def build_tokenizer(texts: list[str], vocab_size: int = 400):
    """Byte-level BPE (decodes back to the exact text, so the rule rewards see what the model wrote); digits are split
    one per token so that addition is learnable digit by digit."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD)


def build_model(vocab_size: int, seed: int, hidden: int = 64, layers: int = 2, max_len: int = 256):
    """A randomly initialised Qwen2 of about 0.1M parameters (head_dim 16, sdpa attention)."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    cfg = Qwen2Config(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=hidden * 2, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=max_len,
                      tie_word_embeddings=True, attn_implementation="sdpa")
    return Qwen2ForCausalLM(cfg)
