"""Tiny llama-architecture GGUF files for tests, written with the `gguf` package's GGUFWriter.

A real file that the real llama.cpp loads (in milliseconds) and runs through its real tokenizer
and the real ChatML chat-template code in llama-cpp-python. Two kinds:

* random weights (`script=None`): generates arbitrary byte/piece soup, like an untrained model;
* scripted (`script=[pieces]`): the attention and feed-forward weights are zero, so the output at
  each position depends only on the current token (a Markov chain written into the embedding and
  output matrices). Every token outside the script leads to the first piece, each piece leads to
  the next, and the last piece leads to `<|im_end|>` (or back to the first piece with
  `loop=True`, a model that runs on). Greedy or sampled, the model says exactly the script, so
  tests can check streaming order, tag parsing and cutting through the real inference stack.

Vocabulary: `<unk> <s> </s>`, the ChatML specials, 256 byte tokens, letters, the script pieces
(SentencePiece style, `▁` for a space), padded to 380 tokens. Hidden size 64, 2 layers: ~0.5 MB.
"""

from __future__ import annotations

from pathlib import Path

import gguf
import numpy as np

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
N_VOCAB = 380
N_EMBD = 64
N_FF = 128
N_LAYER = 2
N_HEAD = 4
SPACE = "\u2581"


def pieces(text: str) -> list[str]:
    """Split `text` into SentencePiece-style pieces: words (with `▁` for the space before them)
    and punctuation, each its own piece. Raises ValueError if a piece repeats (a scripted model
    can say each piece only once: the next token depends on the current one alone).
    """
    out: list[str] = []
    word = ""
    for ch in text:
        if ch.isalnum() or ch in "'":
            word += ch
            continue
        if word:
            out.append(word)
            word = ""
        if ch == " ":
            word = SPACE
        else:
            out.append(ch)
    if word:
        out.append(word)
    out = [p for p in out if p != SPACE]
    if len(set(out)) != len(out):
        raise ValueError(f"a scripted tiny model cannot repeat a piece: {out}")
    return out


def write_tiny_gguf(path: Path, *, script: list[str] | None = None, loop: bool = False,
                    seed: int = 0) -> Path:
    """Write a tiny llama GGUF to `path` (see the module docstring) and return the path."""
    rng = np.random.default_rng(seed)
    specials = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
    tokens: list[str] = list(specials)
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL,
             gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        types.append(gguf.TokenType.BYTE)
    script = list(script or [])
    if len(script) > N_EMBD - 1:
        raise ValueError(f"a script may have at most {N_EMBD - 1} pieces")
    if len(set(script)) != len(script):
        raise ValueError(f"a scripted tiny model cannot repeat a piece: {script}")
    letters = [c for c in "abcdefghijklmnopqrstuvwxyz"]
    for piece in [*letters, *(SPACE + c for c in letters), *script]:
        if piece not in tokens:
            tokens.append(piece)
            types.append(gguf.TokenType.NORMAL)
    if len(tokens) > N_VOCAB:
        raise ValueError("the script has too many new pieces for the tiny vocabulary")
    while len(tokens) < N_VOCAB:
        tokens.append(f"<unused{len(tokens)}>")
        types.append(gguf.TokenType.UNUSED)
    scores = [float(len(t)) if ty == gguf.TokenType.NORMAL else 0.0
              for t, ty in zip(tokens, types, strict=True)]
    im_end = tokens.index("<|im_end|>")

    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny-test-llama")
    w.add_context_length(4096)
    w.add_embedding_length(N_EMBD)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(N_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(N_EMBD // N_HEAD)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(im_end)
    w.add_unk_token_id(0)
    w.add_add_bos_token(False)
    w.add_chat_template(CHATML)

    f32 = np.float32
    if script:
        ids = [tokens.index(p) for p in script]
        embd = np.zeros((N_VOCAB, N_EMBD), f32)
        embd[:, 0] = 1.0  # every token outside the script: "start the script"
        out = np.zeros((N_VOCAB, N_EMBD), f32)
        out[ids[0], 0] = 4.0
        for k, tok in enumerate(ids, start=1):
            embd[tok] = 0.0
            embd[tok, k] = 1.0
            nxt = ids[k] if k < len(ids) else (ids[0] if loop else im_end)
            out[nxt, k] = 4.0
        scale = 0.0
    else:
        embd = rng.normal(0, 0.5, (N_VOCAB, N_EMBD)).astype(f32)
        out = rng.normal(0, 0.5, (N_VOCAB, N_EMBD)).astype(f32)
        scale = 0.05

    def weights(rows: int, cols: int) -> np.ndarray:
        return (rng.normal(0, 1, (rows, cols)) * scale).astype(f32)

    w.add_tensor("token_embd.weight", embd)
    w.add_tensor("output_norm.weight", np.ones(N_EMBD, f32))
    w.add_tensor("output.weight", out)
    for i in range(N_LAYER):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(N_EMBD, f32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{i}.{name}.weight", weights(N_EMBD, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(N_EMBD, f32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", weights(N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_up.weight", weights(N_FF, N_EMBD))
        w.add_tensor(f"blk.{i}.ffn_down.weight", weights(N_EMBD, N_FF))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
