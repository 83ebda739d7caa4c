"""The final answer of a response: `<answer>` block, last box after the reasoning, explicit fallbacks."""

from __future__ import annotations

import re

from r1_recipe.core.rewards.format import strip_eos
from r1_recipe.core.rewards.math.canonical import canonical_answer

FALLBACKS = ("answer_colon", "answer_is", "gsm8k_hashes", "bare", "last_math", "last_number")
# Explicit final-answer statements only (MATH / competition style and R1's <answer> prose): "Answer: X", "the answer is
# X", "Answer $X$", GSM8K's "#### X", and a response that is nothing but an answer; then, as the last resort,
# `last_math`: math-verify's own extraction (its LaTeX and expression patterns, the rightmost span that parses) on the
# answer region. `last_number` (any number at the end of free text, ours) is opt-in.
DEFAULT_FALLBACKS = ("answer_colon", "answer_is", "gsm8k_hashes", "bare", "last_math")
THINK_POLICIES = ("ignore", "allow")
LAST_MATH_CHARS = 20_000  # `last_math` reads the end of a region only (see MAX_RESPONSE_CHARS in rewards.types)
MULTIPLE_POLICIES = ("reject", "last")

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_BARE_TOKEN = re.compile(r"[^\s$.,;]+")
_ANSWER_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.S)
_ANSWER_COLON = re.compile(r"(?i)(?:final\s+answer|answer)(?:\s+is)?[ \t]*[:：][ \t]*([^\n]+)")
_HASHES = re.compile(r"####\s*([^\n]+)")
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")
# "the answer is X." / "Answer $X$" / "Answer \\[ X \\]": up to a sentence end (a "." not inside a number);
# inline math (`$..$`, `\\(..\\)`) stays on one line, display math (`$$..$$`, `\\[..\\]`) may span lines
_ANSWER_IS_STATEMENT = re.compile(r"(?i)\banswer\s+is\s*:?\s*([^\n]+?)\s*(?:\.(?=\s|$)|$|\n)")
# inside inline math `\\$` is an escaped dollar sign, not the closing delimiter
_INLINE = r"\$((?:\\.|[^\n$\\])+?)\$"
_ANSWER_MATH = re.compile(
    r"(?is)\banswer\s*(?:is\s*)?(?:\$\$(.+?)\$\$|" + _INLINE + r"|\\\[(.+?)\\\]|\\\(([^\n]+?)\\\))"
)


def _answer_math(text: str) -> list[str]:
    """The math of every `answer (is) $X$` / `\\[X\\]` / `\\(X\\)` statement in `text`, in order."""
    return [next(g for g in m if g) for m in _ANSWER_MATH.findall(text)]


_ANSWER_MATH_OPEN = re.compile(r"(?i)\banswer\s*(?:is\s*)?:?\s*(?:\$|\\\(|\\\[)")
_MATH_SPAN = re.compile(r"(?s)^\s*(?:\$\$(.+)\$\$|\$((?:\\.|[^\n$\\])+)\$|\\\[(.+)\\\]|\\\(([^\n]+)\\\))\s*\.?\s*$")
_MINERVA_TAIL = re.compile(r"(?i)\.?\s*I hope it is correct.*$", re.S)
_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}")
_ANSWER_IS = re.compile(r"(?i)^\s*(?:the\s+)?(?:final\s+)?answer\s+is\s*:?\s*")


def boxed_contents(text: str) -> tuple[list[str], bool]:
    """All `\\boxed{...}` / `\\fbox{...}` contents (balanced braces) in order, and whether the last one is unclosed.

    `\\boxed 5` (no braces, as some models write) yields "5".
    """
    found: list[str] = []
    unclosed = False
    boxes = list(_BOX.finditer(text))
    if not boxes:
        return found, unclosed
    # one pass pairs every brace, so many unclosed boxes cost O(len) and not O(len * boxes)
    closing: dict[int, int] = {}
    stack: list[int] = []
    for m in re.finditer(r"[{}]", text):
        if m.group() == "{":
            stack.append(m.start())
        elif stack:
            closing[stack.pop()] = m.start()
    for m in boxes:
        i = m.end()
        if i < len(text) and text[i] != "{":
            tok = _BARE_TOKEN.match(text, i)
            if tok:
                found.append(tok.group())
            unclosed = False
        elif i in closing:
            found.append(text[i + 1 : closing[i]])
            unclosed = False
        else:
            unclosed = True
    return found, unclosed


def _clean_line(s: str) -> str:
    s = _MINERVA_TAIL.sub("", s)  # Minerva's "The final answer is $X$. I hope it is correct."
    s = s.strip().strip("$").strip()
    s = _ANSWER_IS.sub("", s)
    return s.rstrip(".。").strip().strip("$").strip()


def _distinct(answers: list[str]) -> int:
    """Number of different answers, counted up to 2 (all that the rules need)."""
    keys: set[str] = set()
    for a in reversed(answers):
        keys.add(canonical_answer(a))
        if len(keys) > 1:
            break
    return len(keys)


def _bare(text: str) -> list[str]:
    """A response that is only an answer: one math span (`$X$`, `\\[X\\]`) or a short line with no words."""
    m = _MATH_SPAN.match(text)
    if m:
        return [next(g for g in m.groups() if g)]
    line = text.strip()
    words = _WORD.search(_LATEX_WORDS.sub(" ", line))
    if line and len(line) <= 80 and "\n" not in line and not words and "$" not in line:
        return [line]
    return []


# words that are LaTeX, not prose: environment names, `\text{...}` contents, a percent word after a number
_LATEX_WORDS = re.compile(
    r"\\(?:begin|end)\{[a-zA-Z*]+\}|\\(?:text|textbf|mathrm|mbox)\{[^{}]*\}|(?<=[\d\s])(?:percent(?:age)?|pct)$"
)


_LIBRARY_PATTERNS: list = []


def _last_math(text: str) -> list[str]:
    """math-verify's extraction on `text`: the LaTeX span or expression it would pick (priority groups in its order,
    rightmost match first, the first that its parser accepts), as the LaTeX string it normalised; our equivalence
    then compares it. Depends on the library's parser module, not on a copy of its patterns."""
    from math_verify import ExprExtractionConfig, LatexExtractionConfig
    from math_verify.parser import extract_match, get_extraction_regexes

    if not _LIBRARY_PATTERNS:
        patterns = [
            (pattern, target, priority)
            for regexes, target in get_extraction_regexes([LatexExtractionConfig(), ExprExtractionConfig()])
            for pattern, priority in regexes
        ]
        _LIBRARY_PATTERNS.extend(sorted(patterns, key=lambda p: p[2]))
    failed: list[tuple[int, int]] = []  # LaTeX spans its parser rejected, over all priorities
    for priority in sorted({p[2] for p in _LIBRARY_PATTERNS}):
        group = [(pattern, target) for pattern, target, prio in _LIBRARY_PATTERNS if prio == priority]
        matches = [(m, target) for pattern, target in group for m in pattern.finditer(text)]
        matches.sort(key=lambda mt: (mt[0].end(), -mt[0].start()), reverse=True)
        for m, target in matches:
            is_latex = isinstance(target, LatexExtractionConfig)
            # upstream's rule (Math-Verify after 0.9.0, tests/test_failed_latex_span.py): a formula that fails to
            # parse cannot supply a number from inside it (`$\sum_{k=0}^n ...$` is not the answer 0)
            if not is_latex and failed and _overlaps(_spans(m, ("expr", "integer", "decimal")), failed):
                continue
            try:
                parsed, string = extract_match(m, target)
            except Exception:  # a span its parser rejects is not an answer
                parsed, string = None, ""
            if parsed is not None and string and string.strip():
                return [string.strip()]
            if is_latex:
                failed.extend(_spans(m, ("first_latex",)))
    return []


def _spans(match: re.Match, prefixes: tuple[str, ...]) -> list[tuple[int, int]]:
    return [match.span(name) for name, value in match.groupdict().items() if value and name.startswith(prefixes)]


def _overlaps(spans: list[tuple[int, int]], others: list[tuple[int, int]]) -> bool:
    return any(start < hi and end > lo for start, end in spans for lo, hi in others)


# A response that echoes its prompt (`<|User|>...<|Assistant|>...`, as some rollout logs store it) is graded on what
# follows the last assistant turn; Sky-T1 / OpenThoughts reasoning markers are R1's think tags under another name.
_ASSISTANT_TURN = re.compile(
    r"<\|Assistant\|>|<｜Assistant｜>|<\|im_start\|>assistant|<\|start_header_id\|>assistant<\|end_header_id\|>"
)
_THOUGHT_TAGS = (("<|begin_of_thought|>", "<think>"), ("<|end_of_thought|>", "</think>"))


def _response(text: str) -> str:
    text = strip_eos(text)
    if "<|" not in text and "<｜" not in text:  # every turn marker and thought tag starts so: none to look for
        return text
    turns = list(_ASSISTANT_TURN.finditer(text))
    if turns:
        text = text[turns[-1].end() :]
    for alias, tag in _THOUGHT_TAGS:
        text = text.replace(alias, tag)
    return text


def final_boxes(text: str) -> list[str]:
    """The boxes of the final region (after `</think>`; inside the last `<answer>` block when there is one)."""
    text = _response(text)
    close = text.rfind("</think>")
    final = text[close + len("</think>") :] if close >= 0 else ("" if "<think>" in text else text)
    blocks = _ANSWER_BLOCK.findall(final)
    if blocks:
        final = blocks[-1]
    return [b.strip() for b in boxed_contents(final)[0]]


def _from_region(text: str, fallbacks: tuple[str, ...], multiple: str = "reject") -> tuple[str | None, str]:
    """Extract from one region (the text after the reasoning, or the reasoning itself)."""
    strict = multiple == "reject"
    if "<answer>" in text:
        blocks = _ANSWER_BLOCK.findall(text)
        if text.rfind("<answer>") > text.rfind("</answer>"):
            return None, "unclosed_answer"
        contents = []
        for block in blocks:
            boxes, unclosed = boxed_contents(block)
            if unclosed:
                return None, "unclosed_boxed"
            if strict and boxes and _distinct(boxes) > 1:
                return None, "multiple_answers"
            contents.append(boxes[-1] if boxes else _clean_line(block))
        contents = [c for c in contents if c.strip()]
        if not contents:
            return None, "no_answer"
        if strict and _distinct(contents) > 1:
            return None, "multiple_answers"
        return contents[-1].strip(), "answer_tag"
    boxes, unclosed = boxed_contents(text)
    if unclosed:
        return None, "unclosed_boxed"
    if boxes:
        late = _final_statement_after_box(text, boxes[-1])
        if late:
            return late, "final_answer"
        if strict and _distinct(boxes) > 1:
            return None, "multiple_answers"
        return boxes[-1].strip(), "boxed"
    for name in fallbacks:
        if name == "answer_colon":
            hits = _ANSWER_COLON.findall(text)
        elif name == "answer_is":
            hits = _answer_math(text) or _ANSWER_IS_STATEMENT.findall(text)
        elif name == "bare":
            hits = _bare(text)
        elif name == "gsm8k_hashes":
            hits = _HASHES.findall(text)
        elif name == "last_math":
            # an answer statement in math that our patterns refused (`Answer $ \n 9 \n $`: inline math broken
            # across lines) is malformed, and not rescued by reading the last number
            # the rightmost span that parses: in the region's last LAST_MATH_CHARS (parsing is the costly step,
            # and an R1-length reasoning holds thousands of spans; the final answer is at the end)
            hits = [] if _ANSWER_MATH_OPEN.search(text) else _last_math(text[-LAST_MATH_CHARS:])
        elif name == "last_number":
            hits = _NUMBER.findall(text)
        else:
            continue  # names are checked in extract_answer
        if hits:
            answer = _clean_line(hits[-1])
            if name == "answer_colon" and "last_math" in fallbacks:
                answer = _prose_answer(answer)
            if answer:
                return answer, name
    return None, "no_answer"


_FINAL_MARKER = re.compile(r"(?i)\bfinal\s+answer\b")


def _final_statement_after_box(text: str, last_box: str) -> str | None:
    """Minerva's `Final Answer: The final answer is $X$.` written after the last box is the designated answer (the box
    before it may hold an intermediate result): its math, read as `answer_is` / `answer_colon` read it."""
    box_end = max(m.end() for m in _BOX.finditer(text)) + len(last_box)
    markers = [m for m in _FINAL_MARKER.finditer(text) if m.start() > box_end]
    if not markers:
        return None
    tail = text[markers[-1].start() :]
    hits = _answer_math(tail) or _ANSWER_COLON.findall(tail)
    answer = _clean_line(hits[-1]) if hits else ""
    return answer or None


_HEDGE = re.compile(r"(?i)\b(?:or|either|maybe|perhaps|possibly|not|between)\b")


def _prose_answer(answer: str) -> str:
    """`Final Answer: The largest $n$ is 34.`: a statement in words is read by math-verify's extraction (its last
    span or number), unless it hedges (`5 or 6`, `not 5`), which stays as written (and fails)."""
    words = _WORD.findall(re.sub(r"\$[^$]*\$|\\text\{[^}]*\}", " ", answer))
    if len(words) < 2 or _HEDGE.search(answer):
        return answer
    found = _last_math(answer)
    return found[0] if found else answer


def extract_answer(
    text: str,
    fallbacks: tuple[str, ...] | list[str] = DEFAULT_FALLBACKS,
    think_policy: str = "ignore",
    multiple: str = "reject",
) -> tuple[str | None, str]:
    """The final answer of a response, and where it came from (or why there is none).

    Returns `(answer, where)` with `where` in {"answer_tag", "boxed", *fallbacks} (prefixed "think:" when taken from
    the reasoning under `think_policy="allow"`), or `(None, reason)` with reason in {"no_answer", "multiple_answers",
    "unclosed_answer", "unclosed_boxed", "unclosed_think", "answer_in_think"}.
    `multiple`: "reject" (several different final answers -> "multiple_answers", the anti-hacking default for
    training) or "last" (take the last one, as math-verify and verl do; for evaluating models that box intermediate
    results).
    """
    if think_policy not in THINK_POLICIES:
        raise ValueError(f"math reward: think_policy must be one of {THINK_POLICIES}, got {think_policy!r}")
    if multiple not in MULTIPLE_POLICIES:
        raise ValueError(f"math reward: multiple must be one of {MULTIPLE_POLICIES}, got {multiple!r}")
    fallbacks = tuple(fallbacks)
    unknown = [f for f in fallbacks if f not in FALLBACKS]
    if unknown:
        raise ValueError(f"math reward: unknown fallback {unknown[0]!r}; choose from {FALLBACKS}")
    text = _response(text)
    close = text.rfind("</think>")
    if close >= 0:
        think, final = text[:close], text[close + len("</think>") :]
    elif "<think>" in text:  # the reasoning never ended: the response was cut off
        if think_policy != "allow":
            return None, "unclosed_think"  # whatever the reasoning holds: an answer in it would not count
        think, final = text, ""
    else:
        think, final = "", text
    answer, where = _from_region(final, fallbacks, multiple)
    if answer is not None or where != "no_answer" or not think:
        return answer, where
    inner, inner_where = _from_region(think, fallbacks, multiple)
    if inner is None:
        return None, "unclosed_think" if close < 0 else "no_answer"
    if think_policy == "allow":
        return inner, "think:" + inner_where
    return None, "unclosed_think" if close < 0 else "answer_in_think"
