"""Language-consistency reward (R1 §2.3.2) and the shared mixing detector: script-aware counts, maths/code excluded,
target from the prompt or configured, composed with accuracy as the paper sums them."""

import pytest

from r1_recipe.core.bounded import BoundedPool
from r1_recipe.core.rewards import registry
from r1_recipe.core.rewards.compose import Composer
from r1_recipe.core.rewards.language import (
    chain_of_thought,
    count_units,
    detect_language,
    language_mixed,
    language_reward,
    language_share,
    resolve_target,
    strip_math_and_code,
)
from r1_recipe.core.templates import MATH_INSTRUCTION


def test_cjk_counts_per_character_and_other_scripts_per_word():
    assert count_units("我们计算 the sum and 得到") == {"han": 6, "latin": 3}
    assert count_units("これは ペン です") == {"kana": 7}
    assert count_units("안녕 하세요 hello") == {"hangul": 5, "latin": 1}
    assert count_units("Привет мир, hello") == {"cyrillic": 2, "latin": 1}


def test_every_script_is_counted_and_absent_scripts_are_not():
    """Scripts absent from the text skip their own pass (one pass finds which non-Latin scripts occur): the counts,
    and their order, are those of a pass per script."""
    counts = count_units("Hello world 我们 ひら 한국 привет мир αβγ مرحبا שלום नमस्ते สวัสดี")
    assert list(counts.items()) == [("han", 2), ("kana", 2), ("hangul", 2), ("latin", 2), ("cyrillic", 2),
                                    ("greek", 1), ("arabic", 1), ("hebrew", 1), ("devanagari", 1), ("thai", 1)]
    assert list(count_units("Step one: 我们合并 3 and 4, so x = 7.").items()) == [("han", 4), ("latin", 4)]
    assert list(count_units("Größe ὁ λόγος, ἀρχή").items()) == [("latin", 1), ("greek", 2)]  # ὁ: one letter


def test_maths_and_code_spans_are_not_words():
    text = ("我们计算 $x^2 + y$ and then `print(total)` 得到 \\frac{1}{2} $$\\sum_i a_i$$ \\(ab\\) \\[cd\\]\n"
            "```python\nfor item in rows: pass\n```")
    assert count_units(text) == {"han": 6, "latin": 2}
    stripped = strip_math_and_code(text)
    assert "print" not in stripped and "item" not in stripped and "frac" not in stripped


def test_variables_function_names_and_lone_greek_letters_are_symbols():
    # let, be, of, so, equals: x, y, sin, θ and gcd are maths
    assert count_units("let x be sin of y, so θ equals gcd") == {"latin": 5}
    assert count_units("设 x = 3，则 y = 2x") == {"han": 2}


@pytest.mark.parametrize(
    "prompt,language",
    [
        ("What is 3 + 4?", "en"),
        ("三加四等于几？", "zh"),
        ("1+1等于几？ " + MATH_INSTRUCTION, "zh"),  # the appended English instruction does not decide
        ("りんごは何個ありますか", "ja"),
        ("사과는 몇 개입니까", "ko"),
        ("Сколько будет два плюс два?", "ru"),
        ("$1+1$", None),
    ],
)
def test_prompt_language_is_its_dominant_script(prompt, language):
    assert detect_language(prompt) == language


def test_targets_accept_language_codes_regions_and_scripts():
    assert resolve_target("zh-CN") == {"han"}
    assert resolve_target("en_US") == {"latin"}
    assert resolve_target("ja") == {"han", "kana"}
    assert resolve_target("cyrillic") == {"cyrillic"}
    with pytest.raises(ValueError, match="unknown target language 'xx'"):
        resolve_target("xx")


def test_chain_of_thought_is_the_think_block():
    assert chain_of_thought("<think> a b </think> answer") == " a b "
    assert chain_of_thought("opened by the prompt </think> answer") == "opened by the prompt "
    assert chain_of_thought("<think> never closed") == " never closed"
    assert chain_of_thought("no tags <answer>7</answer>") == "no tags  7 "


@pytest.mark.parametrize("text", ["We add sin x and Cos y, a b c, then LOG 2x_1 to it.", "ab", "a", "", "x_y z1 22 ok",
                                  "Straße und Größe", "θ is the angle", "αβ γδ words", "我们 add 3", "x" * 5])
def test_ascii_fast_paths_agree_with_the_script_regexes(text):
    # " ·": a non-ASCII character of no script, which sends the same words down the regex path
    assert count_units(text, strip=False) == count_units(text + " ·", strip=False)
    assert count_units(text) == count_units(text + " ·")
    for target in (None, "en", "fr", "zh", "el"):
        language = target or detect_language(text)  # a text with no tags is its own reasoning
        for share in (0.0, 0.5, 0.95, 1.0, 1.01):
            expected = language is not None and language_share(text, language)[0] < share
            assert language_mixed(text, target=target, min_share=share) is expected


def test_reward_is_the_share_of_target_language_words_in_the_reasoning_only():
    zh_prompt = {"prompt": "三加四等于几？"}
    pure = language_reward("<think>三加四等于七。</think> The answer is 7.", None, zh_prompt)
    assert (pure.score, pure.reason, pure.pred) == (1.0, "", "zh")
    # 我们 计算 得到 (6 characters) against need, to (2 words); the English answer after </think> does not count
    mixed = language_reward("<think>我们 need to 计算, 得到 7</think> The answer is seven.", None, zh_prompt)
    assert mixed.score == pytest.approx(6 / 8)
    assert mixed.info == {"units": 8, "units_han": 6, "units_latin": 2}


def test_configured_target_overrides_the_prompt():
    out = language_reward("<think>我们计算</think> 7", None, {"prompt": "三加四等于几？"}, target="en")
    assert (out.score, out.pred) == (0.0, "en")
    assert language_share("we compute 我", "en") == (2 / 3, 3)


def test_degenerate_inputs_score_without_raising():
    assert language_reward("<think>$1+1=2$</think> 2", None, {"prompt": "What?"}) == language_reward(
        "<think> 3 + 4 = 7 </think>", None, {"prompt": "Why?"})
    assert language_reward("<think>$1+1=2$</think> 2", None, {"prompt": "What?"}).reason == "no_words"
    assert language_reward("<think> words </think>", None, None).reason == "no_target"
    assert language_reward("<think> words </think>", None, {"prompt": "$1$"}).score == 0.0
    bad = language_reward("<think> words </think>", None, None, target="klingon")
    assert bad.score == 0.0 and bad.reason.startswith("bad_target")
    assert language_reward("x" * (1 << 20) + "x", None, None, target="en").reason == "too_long"
    assert language_reward("<think>" + "we add them " * 80_000 + "</think>", None, None, target="en").score == 1.0


def test_registered_as_language_and_summed_with_accuracy_as_the_paper_does():
    assert registry.get("language") is language_reward
    pool = BoundedPool(workers=1)
    try:
        c = Composer({"components": {"accuracy": 1.0, "language": {"weight": 1.0, "target": "en"}}}, pool=pool)
        out = c.score("<think>We add 3 and 4, 我们 得到 7</think> The answer is \\boxed{7}.", "7",
                      {"prompt": "What is 3+4?"})
    finally:
        pool.close()
    # language: We, add, and (3 words, 'to' absent) against 我们得到 (4 characters) -> 3/7
    assert out["accuracy"] == 1.0
    assert out["language"] == pytest.approx(3 / 7)
    assert out["score"] == pytest.approx(1.0 + 3 / 7)
