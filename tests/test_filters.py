"""Rejection-sampling filters and per-prompt selection (R1 §2.3.3): one check per bad kind, first failure wins,
near-duplicates dropped, at most K kept by a deterministic rule."""

import pytest

from r1_recipe.tools.filters import (
    FILTER_NAMES,
    Candidate,
    FilterConfig,
    check_paragraphs,
    first_failure,
    jaccard,
    judge_verdict,
    repeat_ratio,
    repetitive,
    select,
    selection_order,
    shingles,
)

GOOD = "<think>\nWe add 3 and 4 to get 7.\n</think>\n\nThe answer is \\boxed{7}."
CFG = FilterConfig(max_paragraph_units=40, max_chars=400)


def words(n, prefix="w"):
    """n distinct Latin words (a paragraph with no repetition)."""
    return " ".join(f"{prefix}{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(n))


def cand(response=GOOD, prompt="What is 3+4?", acc=1.0, **kw):
    return Candidate(response, prompt, acc, **kw)


@pytest.mark.parametrize(
    "candidate,expected",
    [
        (cand(), ("", "")),
        (cand(truncated=True), ("truncated", "truncated")),
        (cand("<think>\nWe add 3 and 4"), ("truncated", "truncated")),
        (cand("<think> a </think> <answer> 7"), ("truncated", "truncated")),
        (cand(GOOD + " " + "z" * 400), ("length", "too_long")),
        (cand("The answer is \\boxed{7}."), ("structure", "format:no_think_close")),
        (cand("<think>\n\n</think> 7"), ("structure", "format:empty_think")),
        (cand("<think>\n" + "3 plus 4 is 7. " * 20 + "</think>\n\n7"), ("repetition", "repetition")),
        (cand("<think>\n我们 add 3 and 4 得到 7.\n</think>\n\n7"), ("mixed_language", "mixed_language")),
        (cand("<think>\n" + words(41) + "\n</think>\n\n7"),
         ("long_paragraph", "long_paragraph")),
        (cand("<think>\n```python\nprint(3 + 4)\n```\n</think>\n\n7"), ("code_block", "code_block")),
        (cand(acc=0.0), ("incorrect", "incorrect")),
        (cand(acc=None, judge=True), ("", "")),
        (cand(acc=None, judge=False), ("incorrect", "judge_rejected")),
        (cand(acc=None), ("incorrect", "no_verifier")),
    ],
)
def test_each_bad_kind_is_dropped_by_its_filter(candidate, expected):
    assert first_failure(candidate, CFG) == expected


def test_code_blocks_are_kept_for_code_tasks_and_paragraph_breaks_split_paragraphs():
    code = "<think>\n```python\nprint(3 + 4)\n```\n</think>\n\n7"
    assert first_failure(cand(code, is_code=True), CFG) == ("", "")
    two = "<think>\n" + words(30) + "\n\n" + words(30, "v")
    assert first_failure(cand(two + "\n</think>\n\n7"), CFG) == ("", "")


def test_language_filter_uses_the_prompt_language_or_the_configured_one():
    zh = "<think>\n三加四等于七。\n</think>\n\n7"
    assert first_failure(cand(zh, prompt="三加四等于几？"), CFG) == ("", "")
    assert first_failure(cand(zh, prompt="What is 3+4?"), CFG) == ("mixed_language", "mixed_language")
    assert first_failure(cand(zh, prompt="What is 3+4?"), FilterConfig(language="zh")) == ("", "")


def test_repeat_ratio_is_the_share_of_repeated_ngrams():
    assert repeat_ratio("a b c d e f g h i j k l m n o p q r s t u v", 10) == 0.0
    # 5 units x 20 repetitions = 100 units, 91 ten-grams, 5 distinct
    assert repeat_ratio("3 plus 4 is 7. " * 20, 10) == pytest.approx(1 - 5 / 91)
    assert repeat_ratio("too short", 10) == 0.0


def test_judge_verdicts_are_read_leniently():
    assert [judge_verdict(v) for v in (True, 0, 1.0, "Correct", " yes ", "no", "", None, float("nan"))] == [
        True, False, True, True, True, False, None, None, None]


def test_selection_walks_the_rule_order_drops_near_duplicates_and_caps_at_k():
    responses = [
        "<think> alpha beta gamma delta epsilon zeta </think> 7",
        "<think> alpha, beta; gamma delta epsilon zeta! </think> 7",  # same words: a near duplicate of 0
        "<think> one two three four five six seven eight </think> 7",
        "<think> short one </think> 7",
        "<think> failed the filters </think> 8",
    ]
    passed = [True, True, True, True, False]
    cfg = FilterConfig(k=2, selection="first")
    assert select(responses, passed, cfg) == ["kept", "near_duplicate", "kept", "over_k", ""]
    cfg = FilterConfig(k=2, selection="shortest")
    assert select(responses, passed, cfg) == ["kept", "near_duplicate", "over_k", "kept", ""]


def test_random_selection_is_seeded_by_prompt_and_repeatable():
    order = selection_order(["a"] * 8, "random", key="prompt 1", seed=0)
    assert sorted(order) == list(range(8))
    assert order == selection_order(["a"] * 8, "random", key="prompt 1", seed=0)
    assert order != list(range(8))
    others = {tuple(selection_order(["a"] * 8, "random", key=f"prompt {i}", seed=0)) for i in range(5)}
    assert len(others) > 1


def test_shingle_similarity_ignores_case_and_punctuation():
    assert jaccard(shingles("A b, c d e f!"), shingles("a B c d. e f")) == 1.0
    assert jaccard(shingles("a b c d e f"), shingles("a b c d e g")) == pytest.approx(1 / 3)


# ASCII texts take the bytes fast paths; " ·" (a non-ASCII separator, no word) sends the same words down the regex path
FAST_PATH_TEXTS = ["Step 1: we add 3 and 4. " * 12, "snake_case x_1 and 2x_y, A-B a.b " * 9, "3 plus 4 is 7. " * 20,
                   "Straße x_ü Ünder 42 ok " * 8, "我们 合并 3 与 4 。" * 10, "ab " * 25 + "cd ef " * 3,
                   "a b c d e f g h i j k l m n o p q r s t u v", "too short", ""]


@pytest.mark.parametrize("text", FAST_PATH_TEXTS)
def test_fast_paths_give_the_regex_paths_verdicts(text):
    slow = text + " ·"
    for n in (1, 2, 3, 10):
        assert repeat_ratio(text, n) == repeat_ratio(slow, n)
        for limit in (-0.1, 0.0, 0.1, 0.3, 0.5, 0.9, 1.0):  # the early exit reads only part of the n-grams
            assert repetitive(text, n, limit) is (repeat_ratio(text, n) > limit)
    assert sorted(map(repr, shingles(text))) == sorted(map(repr, shingles(slow)))
    for units in (1, 2, 3, 5, 8, 40, 600):  # ASCII paragraphs too short to hold `units` words are not counted
        cfg = FilterConfig(max_paragraph_units=units)
        assert check_paragraphs(cand(text), cfg) == check_paragraphs(cand(slow), cfg)


def test_repetition_shortcut_bound_never_exceeds_the_distinct_ngrams_and_keeps_the_verdicts():
    """`repetitive` first counts the n-grams that hold a unit's first occurrence (a lower bound of the distinct ones,
    without building them); texts of a few words repeated test both sides of the bound."""
    import random

    from r1_recipe.tools.filters import _fresh_ngrams, _units

    assert _fresh_ngrams("a b a b a b".split(), 2) == 2  # (a b), (b a): the starts after the last new word add none
    assert _fresh_ngrams("a b c d e f".split(), 2) == 5
    assert _fresh_ngrams("a x x x x x b".split(), 2) == 3  # starts 0, 5 (b) and 1; the x-only starts 2-4 are not
    rng = random.Random(0)
    for _ in range(400):
        vocab = [f"w{i}" for i in range(rng.randint(1, 12))]
        text = " ".join(rng.choice(vocab) for _ in range(rng.randint(0, 80)))
        units = _units(text)
        for n in (1, 2, 3, 5, 10):
            if len(units) >= n:
                assert _fresh_ngrams(units, n) <= len(set(zip(*(units[i:] for i in range(n)), strict=False)))
            for limit in (0.0, 0.1, 0.3, 0.6):
                assert repetitive(text, n, limit) is (repeat_ratio(text, n) > limit)


def test_shingles_treat_underscores_and_digits_as_word_characters_in_every_script():
    assert shingles("a_b 12 C", 2) == frozenset({(b"a_b", b"12"), (b"12", b"c")})
    assert shingles("a_b 12 É", 2) == frozenset({(b"a_b", b"12"), (b"12", "é".encode())})
    assert jaccard(shingles("x_1 y z w v u"), shingles("X_1, y z w v u!")) == 1.0


def test_bad_configuration_fails_naming_the_value():
    with pytest.raises(ValueError, match="selection must be one of"):
        FilterConfig(selection="best")
    with pytest.raises(ValueError, match="k must be at least 1"):
        FilterConfig(k=0)
    assert FILTER_NAMES[-2:] == ("near_duplicate", "over_k")
