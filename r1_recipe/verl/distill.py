"""Start-up checks for distillation (DeepSeek-R1 §2.4: SFT of small dense students on R1's samples; and verl's
on-policy distillation, where a teacher scores the student's own tokens).

1. `check_student_template`: the student's chat template must keep the reasoning inside the loss-masked assistant
   target. Templates of reasoning models often cut everything up to `</think>` from assistant turns (DeepSeek-R1-Distill
   and QwQ: `content.split('</think>')[-1]`; Qwen3: from turns before the last user query, which is every turn when
   verl renders one message at a time). SFT through such a template trains on the final answers only, silently.
   The check renders a probe through the template and, optionally, through verl's `MultiTurnSFTDataset` loss mask.
2. `check_tokenizers_match`: on-policy distillation compares teacher and student log-probs token by token, so both
   must map text to the same ids. verl 0.9.1 does not check it; a mismatch trains on garbage without an error.

Both raise `DistillCheckError` with what differs and how to fix it. From the shell::

    python -m r1_recipe.verl.distill template STUDENT_PATH [--chat-template r1_chat|FILE]
    python -m r1_recipe.verl.distill tokenizers TEACHER_PATH STUDENT_PATH
    python -m r1_recipe.verl.distill config RECIPE.yaml     # distill or on-policy recipe: runs what applies
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Mapping

PROBE_QUESTION = "PROBE question: what is seven plus five?"
PROBE_REASONING = "PROBE reasoning: seven plus five makes twelve."
PROBE_ANSWER = "PROBE answer: twelve."
PROBE_TEXTS = (
    "<think>\nLet x = 3. Then 2x + 1 = 7.\n</think>\n\nThe answer is \\boxed{7}.",
    "设 x = 3，则 2x+1 = 7。 Ünïcödé, emoji 🙂, tabs\tand   spaces.",
    "def f(n):\n    return n * (n + 1) // 2\n",
)


class DistillCheckError(ValueError):
    """A distillation set-up that would train silently on the wrong target."""


class DistillInputError(DistillCheckError):
    """A model or template that cannot be loaded (missing path, unknown hub id offline, missing template file)."""


def hub_unreachable() -> str | None:
    """Why the Hugging Face hub cannot be reached from here (HF_HUB_OFFLINE, or no connection to its host within 3 s),
    None when it can. Behind a proxy the hub is assumed reachable (the proxy decides)."""
    import socket
    import threading
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("TRANSFORMERS_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlparse(constants.ENDPOINT)
    result: list[str | None] = []

    def probe():  # in a thread: a DNS lookup that hangs cannot be given a timeout
        try:
            socket.create_connection((url.hostname, url.port or 443), timeout=3).close()
            result.append(None)
        except OSError as e:
            result.append(f"no connection to {url.hostname}: {e}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(3.5)
    return result[0] if result else f"no connection to {url.hostname} within 3 s"


def load_tokenizer(path: str):
    """The tokenizer of a local model directory or a hub id, or DistillInputError in one line: a local path that does
    not exist, a hub id that is not in the local cache while the hub is unreachable (checked first, instead of
    transformers' minute of retries), a directory without a tokenizer."""
    from pathlib import Path

    from r1_recipe.verl.recipe_check import has_tokenizer, is_hub_id

    local = Path(path).expanduser()
    offline = None
    if not local.exists():
        if not is_hub_id(path):
            raise DistillInputError(f"{path!r} is neither an existing directory nor a hub id 'org/name'")
        offline = hub_unreachable()
    elif not has_tokenizer(local):
        raise DistillInputError(f"{path!r} has no tokenizer (tokenizer.json, tokenizer_config.json or "
                                "tokenizer.model)")
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(local) if local.exists() else path, trust_remote_code=False,
                                             local_files_only=offline is not None)
    except (OSError, ValueError) as e:
        if offline is not None:
            raise DistillInputError(f"{path!r} is not in the local Hugging Face cache and the hub is unreachable "
                                    f"({offline}); download it first or pass a local directory") from None
        raise DistillInputError(f"cannot load a tokenizer from {path!r}: {' '.join(str(e).split())[:300]}") from None


def load_chat_template(name_or_path: str) -> str:
    """A shipped template by name (`r1_chat`, `r1_zero`) or the text of a Jinja file."""
    from pathlib import Path

    from r1_recipe.core.templates import CHAT_TEMPLATES, load

    if name_or_path in CHAT_TEMPLATES:
        return load(name_or_path)
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        raise DistillInputError(f"--chat-template {name_or_path!r}: neither a shipped template "
                                f"({', '.join(CHAT_TEMPLATES)}) nor an existing file")
    return path.read_text(encoding="utf-8")


def _tokenizer(obj, chat_template: str | None = None):
    if isinstance(obj, str | os.PathLike):
        obj = load_tokenizer(str(obj))
    if chat_template is not None:
        obj.chat_template = chat_template
    return obj


def probe_messages() -> list[dict]:
    return [{"role": "user", "content": PROBE_QUESTION},
            {"role": "assistant", "content": f"<think>\n{PROBE_REASONING}\n</think>\n\n{PROBE_ANSWER}"}]


def loss_masked_text(tokenizer, messages: list[dict], **dataset_config) -> str:
    """The text verl's `MultiTurnSFTDataset` trains on (tokens with loss_mask 1) for one conversation."""
    import pandas as pd
    from verl.utils.dataset.multiturn_sft_dataset import MultiTurnSFTDataset

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "probe.parquet")
        pd.DataFrame({"messages": [messages]}).to_parquet(path)
        ds = MultiTurnSFTDataset(path, tokenizer, {"max_length": 4096, "truncation": "error", **dataset_config})
        item = ds[0]
    ids = item["input_ids"][item["loss_mask"].bool()]
    return tokenizer.decode(ids.tolist(), skip_special_tokens=False)


def check_student_template(student, chat_template: str | None = None, through_verl: bool = True,
                           name: str | None = None) -> None:
    """Fail loudly when the student's chat template drops the reasoning of assistant turns from the SFT target.

    student: a tokenizer or a model/tokenizer path; chat_template: a template that replaces the tokenizer's (as
    verl's `model.custom_chat_template` does); through_verl: also build verl's `MultiTurnSFTDataset` on a probe
    conversation and require the reasoning and the answer in the loss-masked tokens (imports verl).
    """
    label = name or (str(student) if isinstance(student, str | os.PathLike) else "the student tokenizer")
    tok = _tokenizer(student, chat_template)
    if not getattr(tok, "chat_template", None):
        raise DistillCheckError(f"{label} has no chat template: set the recipe's model.custom_chat_template "
                                f"(e.g. r1_recipe.core.templates.load('r1_chat'))")
    rendered = tok.apply_chat_template(probe_messages(), tokenize=False)
    fix = ("use a template that keeps assistant content as is, e.g. r1_recipe's `r1_chat` "
           "(model.custom_chat_template / data.chat_template), or remove the `split('</think>')` from this one")
    if PROBE_REASONING not in rendered:
        raise DistillCheckError(
            f"the chat template of {label} strips the reasoning before </think> from assistant turns: SFT would "
            f"train on the final answers only. Rendered probe:\n{rendered}\nFix: {fix}")
    if through_verl:
        try:
            target = loss_masked_text(tok, probe_messages())
        except AssertionError as e:  # verl's per-turn vs whole-conversation tokenisation check
            raise DistillCheckError(f"verl's MultiTurnSFTDataset cannot train with the chat template of {label}: "
                                    f"{e}\nFix: {fix}") from e
        missing = [t for t in (PROBE_REASONING, PROBE_ANSWER) if t not in target]
        if missing or PROBE_QUESTION in target:
            raise DistillCheckError(
                f"with the chat template of {label}, verl's MultiTurnSFTDataset loss mask covers {target!r}: "
                f"{'missing ' + ', '.join(map(repr, missing)) if missing else 'it includes the user turn'}. "
                f"Fix: {fix}")


def tokenizer_differences(teacher, student, limit: int = 5) -> list[str]:
    """What makes two tokenizers map text to different ids (empty when they agree)."""
    t, s = _tokenizer(teacher), _tokenizer(student)
    diffs = []
    tv, sv = t.get_vocab(), s.get_vocab()
    if tv != sv:
        only_t = sorted(set(tv) - set(sv))[:limit]
        only_s = sorted(set(sv) - set(tv))[:limit]
        moved = sorted(k for k in set(tv) & set(sv) if tv[k] != sv[k])[:limit]
        diffs.append(f"vocabularies differ (teacher {len(tv)} tokens, student {len(sv)}); only in teacher: "
                     f"{only_t}, only in student: {only_s}, different ids: {[(k, tv[k], sv[k]) for k in moved]}")
    for attr in ("eos_token", "pad_token", "bos_token"):
        if getattr(t, attr, None) != getattr(s, attr, None):
            diffs.append(f"{attr}: teacher {getattr(t, attr, None)!r}, student {getattr(s, attr, None)!r}")
    for text in PROBE_TEXTS:
        a = t.encode(text, add_special_tokens=False)
        b = s.encode(text, add_special_tokens=False)
        if a != b:
            diffs.append(f"{text[:30]!r}... encodes differently (teacher {a[:8]}..., student {b[:8]}...)")
    return diffs


def check_tokenizers_match(teacher, student, teacher_key: str = "teacher", student_key: str = "student") -> None:
    """Raise `DistillCheckError` unless teacher and student tokenize identically (verl on-policy distillation)."""
    diffs = tokenizer_differences(teacher, student)
    if diffs:
        raise DistillCheckError(
            f"on-policy distillation needs one tokenizer for teacher and student, but {teacher_key} ({teacher}) and "
            f"{student_key} ({student}) differ:\n  - " + "\n  - ".join(diffs)
            + "\nFix: pick a teacher of the student's model family (same tokenizer), or distil off-policy with SFT "
              "on teacher samples (the `distill` recipe).")


def _get(cfg: Mapping, path: str):
    node = cfg
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def check_distill_config(cfg: Mapping) -> list[str]:
    """Run the checks that apply to a resolved verl config (a plain dict or DictConfig); returns what was checked.

    - SFT (`model.path` set, no `actor_rollout_ref`): the student template check, with `model.custom_chat_template`;
    - on-policy (`distillation.enabled`): each `distillation.teacher_models.*.model_path` against
      `actor_rollout_ref.model.path`. Errors name the config keys.
    """
    if hasattr(cfg, "items") and not isinstance(cfg, dict):
        from omegaconf import OmegaConf

        try:
            cfg = OmegaConf.to_container(cfg, resolve=True)
        except Exception:  # Hydra-only interpolations (oc.select of keys from defaults) in an uncomposed file
            cfg = OmegaConf.to_container(cfg, resolve=False)
    done = []
    if _get(cfg, "distillation.enabled"):
        student = _get(cfg, "actor_rollout_ref.model.path")
        if not student:
            raise DistillCheckError("actor_rollout_ref.model.path is not set")
        for name, teacher in (_get(cfg, "distillation.teacher_models") or {}).items():
            if not isinstance(teacher, Mapping) or not teacher.get("model_path"):
                continue
            key = f"distillation.teacher_models.{name}.model_path"
            check_tokenizers_match(teacher["model_path"], student, key, "actor_rollout_ref.model.path")
            done.append(f"tokenizers: {key} == actor_rollout_ref.model.path")
    elif _get(cfg, "model.path"):
        check_student_template(_get(cfg, "model.path"), _get(cfg, "model.custom_chat_template"),
                               name=f"model.path={_get(cfg, 'model.path')}")
        done.append("student chat template keeps the reasoning in the loss mask")
    return done


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m r1_recipe.verl.distill", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("template", help="student chat template keeps the reasoning in the SFT target")
    t.add_argument("student", help="a local model directory or a hub id")
    t.add_argument("--chat-template", help="a shipped template (r1_chat, r1_zero) or a Jinja file that replaces the "
                   "tokenizer's template")
    k = sub.add_parser("tokenizers", help="teacher and student share a tokenizer (on-policy distillation)")
    k.add_argument("teacher")
    k.add_argument("student")
    c = sub.add_parser("config", help="run the checks that apply to a recipe YAML")
    c.add_argument("config")
    args = p.parse_args(argv)
    try:
        if args.cmd == "template":
            template = load_chat_template(args.chat_template) if args.chat_template else None
            check_student_template(args.student, template)
            print(f"ok: the chat template of {args.student} keeps the reasoning in the loss-masked target")
        elif args.cmd == "tokenizers":
            check_tokenizers_match(args.teacher, args.student)
            print("ok: teacher and student tokenize identically")
        else:
            from omegaconf import OmegaConf

            for line in check_distill_config(OmegaConf.load(args.config)) or ["nothing to check"]:
                print(f"ok: {line}")
    except DistillCheckError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if isinstance(e, DistillInputError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
