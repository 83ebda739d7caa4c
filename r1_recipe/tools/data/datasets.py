"""Dataset specs for `r1-recipe prepare`: where each public set lives, which columns hold the question and the
answer, and how its ground truth is stated (GSM8K after `####`, MATH in the solution's last `\\boxed{}`, GPQA as four
options, code as test cases). Each `to_example(record) -> Example` raises `MissingColumn` naming the column it needed.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import pickle
import re
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from r1_recipe.core.templates import MATH_INSTRUCTION

GPQA_INSTRUCTION = "Please reason step by step, and put the letter of your final answer within \\boxed{}."
CODE_STDIN_INSTRUCTION = ("Write a Python 3 program that reads the input from standard input and writes the answer "
                          "to standard output. Put the complete program in a ```python code block.")
CODE_FN_INSTRUCTION = ("Write a Python 3 solution that defines `{fn}` as in the starter code. Put the complete code "
                       "in a ```python code block.")


class MissingColumn(KeyError):
    """A record lacks a column the dataset spec needs."""

    def __init__(self, column: str, have):
        self.column, self.have = column, sorted(map(str, have))
        super().__init__(column)

    def __str__(self):
        return f"missing column {self.column!r} (columns present: {', '.join(self.have)})"


@dataclass(frozen=True)
class Example:
    """One prepared problem. `question` is the user turn without any instruction; `ground_truth` a string."""

    question: str
    ground_truth: str
    ability: str  # math | stem | code
    instruction: str = ""  # appended to the user turn in the chat template (none in R1-Zero's)
    extra: dict = field(default_factory=dict)


def col(record: Mapping, name: str):
    if name not in record:
        raise MissingColumn(name, record.keys())
    return record[name]


def last_boxed(text: str) -> str | None:
    """Contents of the last `\\boxed{...}` / `\\fbox{...}` with balanced braces (MATH states its answer so)."""
    from r1_recipe.core.rewards.math import boxed_contents

    found, unclosed = boxed_contents(text)
    return found[-1].strip() if found and not unclosed else None


def gsm8k_answer(answer: str) -> str:
    """GSM8K states the final answer after `####`; thousands separators are dropped (`1,234` -> `1234`)."""
    if "####" not in answer:
        raise ValueError("no '####' final-answer marker in the answer column")
    return answer.rsplit("####", 1)[1].strip().replace(",", "")


def _math_from(q_col: str, a_col: str, ability: str = "math", extra_cols: tuple[str, ...] = ()):
    def convert(r: Mapping) -> Example:
        answer = col(r, a_col)
        if answer is None or str(answer).strip() == "":
            raise ValueError(f"empty {a_col!r}")
        extra = {k: r.get(k) for k in extra_cols}
        return Example(str(col(r, q_col)), _clean_number(str(answer)), ability, MATH_INSTRUCTION, extra)

    return convert


def _clean_number(s: str) -> str:
    s = s.strip()
    # AIME/AMC sets store integers as "033" or 33.0: both mean 33
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    if re.fullmatch(r"0\d+", s):
        s = s.lstrip("0")
    return s


def gsm8k(r: Mapping) -> Example:
    return Example(str(col(r, "question")), gsm8k_answer(str(col(r, "answer"))), "math", MATH_INSTRUCTION,
                   {"solution": str(r["answer"]).rsplit("####", 1)[0].strip()})


def math_solution(r: Mapping) -> Example:
    """MATH (Hendrycks): the ground truth is the last boxed expression of `solution`."""
    solution = str(col(r, "solution"))
    answer = last_boxed(solution)
    if answer is None:
        raise ValueError("no \\boxed{} answer in the solution column")
    return Example(str(col(r, "problem")), answer, "math", MATH_INSTRUCTION,
                   {"level": r.get("level"), "type": r.get("type")})


def _stable_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def gpqa(r: Mapping) -> Example:
    """GPQA: the correct answer and three distractors, shuffled by a seed derived from the question (the same order on
    every machine and run), listed as A-D in the prompt; the ground truth is the correct option's letter."""
    import random

    question = str(col(r, "Question")).strip()
    correct = str(col(r, "Correct Answer")).strip()
    options = [correct] + [str(col(r, f"Incorrect Answer {i}")).strip() for i in (1, 2, 3)]
    order = list(range(4))
    random.Random(_stable_seed(question)).shuffle(order)
    shuffled = [options[i] for i in order]
    letter = "ABCD"[order.index(0)]
    body = question + "\n\n" + "\n".join(f"{'ABCD'[i]}) {o}" for i, o in enumerate(shuffled))
    return Example(body, letter, "stem", GPQA_INSTRUCTION, {"options": shuffled})


def _test_cases_json(inputs: list, outputs: list, fn_name: str | None) -> str:
    if not inputs or len(inputs) != len(outputs):
        raise ValueError(f"test cases need as many outputs as inputs "
                         f"(got {len(inputs)} inputs, {len(outputs)} outputs)")
    tc = {"inputs": inputs, "outputs": outputs}
    if fn_name:
        tc["fn_name"] = fn_name
    return json.dumps(tc, ensure_ascii=False)


def _code_example(question: str, tests: str, fn_name: str | None, starter: str) -> Example:
    instruction = CODE_FN_INSTRUCTION.format(fn=fn_name) if fn_name else CODE_STDIN_INSTRUCTION
    body = question.strip() + (f"\n\nStarter code:\n```python\n{starter.rstrip()}\n```" if starter.strip() else "")
    return Example(body, tests, "code", instruction, {"fn_name": fn_name or ""})


def apps(r: Mapping) -> Example:
    """APPS / TACO: `input_output` is already verl's test_cases JSON (`inputs`, `outputs`, optional `fn_name`)."""
    raw = col(r, "input_output")
    io_ = json.loads(raw) if isinstance(raw, str) else dict(raw)
    fn = io_.get("fn_name")
    tests = _test_cases_json(list(io_.get("inputs") or []), list(io_.get("outputs") or []), fn)
    return _code_example(str(col(r, "question")), tests, fn, str(r.get("starter_code") or ""))


class _NoGlobals(pickle.Unpickler):
    """LiveCodeBench ships private tests as base64(zlib(pickle(json str))). Only plain strings may be unpickled:
    any class or function reference is refused, so a hostile file cannot run code here."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")


def _lcb_tests(value) -> list[dict]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    try:
        return json.loads(value)
    except (json.JSONDecodeError, TypeError):
        try:
            data = _NoGlobals(io.BytesIO(zlib.decompress(base64.b64decode(value)))).load()
        except (pickle.UnpicklingError, zlib.error, EOFError) as e:
            raise ValueError(f"undecodable private_test_cases: {e}") from None
        return json.loads(data) if isinstance(data, str | bytes) else list(data)


def livecodebench(r: Mapping) -> Example:
    """LiveCodeBench code generation: public + private tests (`input`/`output`/`testtype`), `metadata.func_name` for
    functional problems (inputs stay newline-separated JSON arguments, which the code reward understands)."""
    tests = _lcb_tests(col(r, "public_test_cases")) + _lcb_tests(r.get("private_test_cases"))
    meta = r.get("metadata") or {}
    meta = json.loads(meta) if isinstance(meta, str) and meta.strip() else (meta or {})
    fn = meta.get("func_name") if any(t.get("testtype") == "functional" for t in tests) else None
    tc = _test_cases_json([t["input"] for t in tests], [t["output"] for t in tests], fn)
    ex = _code_example(str(col(r, "question_content")), tc, fn, str(r.get("starter_code") or ""))
    ex.extra.update({"contest_date": str(r.get("contest_date") or ""), "difficulty": str(r.get("difficulty") or "")})
    return ex


@dataclass(frozen=True)
class Spec:
    name: str
    hub_id: str
    to_example: Callable[[Mapping], Example]
    data_source: str
    split: str = "train"  # default source split on the hub
    hub_config: str | None = None
    description: str = ""


SPECS: dict[str, Spec] = {s.name: s for s in [
    Spec("gsm8k", "openai/gsm8k", gsm8k, "openai/gsm8k", "train", "main", "grade-school maths; answer after ####"),
    Spec("math", "DigitalLearningGmbH/MATH-lighteval", math_solution, "lighteval/MATH", "train", None,
         "MATH (Hendrycks) 7.5k train / 5k test; answer = last \\boxed{} of the solution"),
    Spec("math500", "HuggingFaceH4/MATH-500", _math_from("problem", "answer", extra_cols=("level", "subject")),
         "HuggingFaceH4/MATH-500", "test", None, "MATH-500 evaluation subset"),
    Spec("aime2024", "HuggingFaceH4/aime_2024", _math_from("problem", "answer"), "aime2024", "train", None,
         "AIME 2024 (30 problems)"),
    Spec("aime2025", "yentinglin/aime_2025", _math_from("problem", "answer"), "aime2025", "train", None,
         "AIME 2025 (30 problems)"),
    Spec("amc", "AI-MO/aimo-validation-amc", _math_from("problem", "answer"), "amc", "train", None,
         "AMC 2022-2023 (83 problems)"),
    Spec("deepscaler", "agentica-org/DeepScaleR-Preview-Dataset", _math_from("problem", "answer"), "deepscaler",
         "train", None, "DeepScaleR 40k competition maths for RL"),
    Spec("openr1_math", "open-r1/OpenR1-Math-220k", _math_from("problem", "answer"), "openr1_math", "train",
         "default", "OpenR1-Math 94k (default config) for RL"),
    Spec("gpqa_diamond", "Idavidrein/gpqa", gpqa, "gpqa_diamond", "train", "gpqa_diamond",
         "GPQA Diamond 198 multiple-choice; ground truth = letter of the shuffled correct option"),
    Spec("apps", "codeparrot/apps", apps, "apps", "train", "all", "APPS code with test cases (input_output)"),
    Spec("taco", "BAAI/TACO", apps, "taco", "train", "ALL", "TACO code with test cases (input_output)"),
    Spec("livecodebench", "livecodebench/code_generation_lite", livecodebench, "livecodebench", "test",
         "release_v5", "LiveCodeBench code generation (public + private tests)"),
]}
