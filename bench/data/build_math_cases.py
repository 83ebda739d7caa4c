"""Builds bench/data/math_cases.jsonl: gold answers with equivalent forms (label 1) and near misses (label 0), wrapped
as R1-distill / R1-Zero / GSM8K responses, plus reward hacks and hostile inputs.

Run: python bench/data/build_math_cases.py
"""

import json
import os
from collections import Counter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "math_cases.jsonl")
F = [
    # MATH
    ("MATH", r"\frac{1}{2}", ["0.5", "1/2", r"\dfrac{1}{2}", r"\frac12"], ["2", r"\frac{1}{3}"]),
    ("MATH", r"\frac{3}{4}", [r"\tfrac{3}{4}", "0.75", r"\frac{6}{8}"], [r"\frac{4}{3}", "0.7"]),
    ("MATH", r"-\frac{2}{3}", [r"\frac{-2}{3}", "-2/3"], [r"\frac{2}{3}"]),
    ("MATH", r"2\sqrt{3}", [r"\sqrt{12}", r"2 \sqrt 3"], [r"3\sqrt{2}", r"\sqrt{6}"]),
    (
        "MATH",
        r"\frac{\sqrt{3}}{2}",
        [r"\frac{\sqrt3}{2}", r"\dfrac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}"],
        [r"\frac{\sqrt{2}}{2}", r"\sqrt{3}"],
    ),
    ("MATH", r"3\sqrt{2}", [r"\sqrt{18}"], [r"2\sqrt{3}"]),
    ("MATH", r"\frac{5\sqrt{2}}{2}", [r"\frac{5}{\sqrt{2}}", r"\frac{5}{2}\sqrt{2}"], [r"5\sqrt{2}"]),
    ("MATH", r"(-\infty,3]", [r"x \le 3", r"x\leq 3", r"(-\infty, 3]"], [r"(-\infty,3)", r"x<3", r"[3,\infty)"]),
    ("MATH", r"(2,5)", [r"2<x<5", r"(2, 5)"], [r"[2,5]", r"(2,5]"]),
    ("MATH", r"[-1,4)", [r"-1 \le x < 4", r"[-1, 4)"], [r"(-1,4)"]),
    (
        "MATH",
        r"(-\infty,-2)\cup(3,\infty)",
        [r"(-\infty, -2) \cup (3, \infty)"],
        [r"(-2,3)", r"(-\infty,-2]\cup[3,\infty)"],
    ),
    ("MATH", r"\{1,2\}", ["2,1", "1, 2", r"\{2,1\}"], ["1", r"\{1,2,3\}"]),
    ("MATH", "-3, 5", ["5,-3", r"x=-3, 5", r"\{-3, 5\}"], ["5", "-5, 3"]),
    ("MATH", r"(3,-1)", [r"(3, -1)"], [r"(-1,3)", r"3,-1"]),
    ("MATH", r"(1,2,3)", [r"(1, 2, 3)"], [r"(3,2,1)"]),
    ("MATH", r"90^\circ", ["90", r"90^{\circ}", r"90°"], ["45", r"180^\circ"]),
    ("MATH", "30", [r"30^\circ", r"30^{\circ}"], ["60"]),
    ("MATH", r"\pi", [r"\pi"], ["3.14", r"2\pi"]),
    ("MATH", r"2\pi", [r"2 \pi", r"\pi \cdot 2"], [r"\pi"]),
    ("MATH", r"\frac{\pi}{4}", [r"\frac{1}{4}\pi", r"\pi/4"], [r"\frac{\pi}{2}"]),
    ("MATH", r"x^2+2x+1", [r"(x+1)^2", r"1+2x+x^2"], [r"x^2+1", r"(x-1)^2"]),
    ("MATH", r"2x-3", [r"-3+2x"], [r"3-2x", r"2x+3"]),
    ("MATH", r"y=2x+3", [r"2x+3", r"y = 3 + 2x"], [r"y=2x-3"]),
    (
        "MATH",
        r"\begin{pmatrix} 1 & 2 \\ 3 & 4 \end{pmatrix}",
        [r"\begin{pmatrix}1&2\\3&4\end{pmatrix}", r"\left(\begin{matrix} 1 & 2 \\ 3 & 4 \end{matrix}\right)"],
        [r"\begin{pmatrix} 1 & 3 \\ 2 & 4 \end{pmatrix}"],
    ),
    (
        "MATH",
        r"\begin{pmatrix} 2 \\ -1 \end{pmatrix}",
        [r"\begin{pmatrix}2\\-1\end{pmatrix}"],
        [r"\begin{pmatrix} -1 \\ 2 \end{pmatrix}"],
    ),
    ("MATH", r"3+4i", [r"4i+3", r"3 + 4i"], [r"3-4i", "5"]),
    ("MATH", r"-1+i", [r"i-1"], [r"1-i"]),
    ("MATH", r"\text{(C)}", ["C", "(C)", r"\textbf{(C)}"], ["B", "(D)"]),
    ("MATH", r"\text{Paris}", ["Paris", r"\text{Paris}"], ["London"]),
    ("MATH", r"\text{even}", ["even", r"\text{even}"], ["odd"]),
    ("MATH", "10", [r"10\text{ cm}", r"10 \text{ units}", "10.0"], ["100", "1"]),
    ("MATH", "12", [r"12 \text{ square units}", "12.00"], ["21", "1.2"]),
    ("MATH", r"\frac{9}{2}", ["4.5", r"4\frac{1}{2}", "9/2"], ["4", r"\frac{2}{9}"]),
    ("MATH", "8", ["8", r"2^3"], ["9", r"2^4"]),
    ("MATH", r"\sqrt{2}", [r"2^{1/2}", r"\sqrt 2"], ["2", r"\sqrt{3}"]),
    ("MATH", r"\frac{1}{\sqrt{2}}", [r"\frac{\sqrt{2}}{2}"], [r"\sqrt{2}"]),
    ("MATH", r"6", [r"x=6", r"n = 6"], [r"x=7"]),
    ("MATH", r"\dfrac{7}{9}", [r"\frac{7}{9}", r"0.\overline{7}"], ["0.7"]),
    ("MATH", "5", ["5", r"\frac{10}{2}"], ["-5", "15"]),
    ("MATH", r"\infty", [r"\infty"], ["0"]),
    ("MATH", r"\frac{a+b}{2}", [r"\frac{b+a}{2}", r"\frac{a}{2}+\frac{b}{2}"], [r"a+b"]),
    ("MATH", "0", ["0", "0.0", "-0"], ["1"]),
    ("MATH", r"e^2", [r"e^{2}"], [r"2e"]),
    ("MATH", r"\log_2 3", [r"\log_{2}3", r"\frac{\ln 3}{\ln 2}"], [r"\log_3 2"]),
    # GSM8K
    ("GSM8K", "18", ["18", r"\$18", r"18 \text{ dollars}", "18.00"], ["17", "81"]),
    ("GSM8K", "1000", ["1,000", "1000", r"1{,}000"], ["100", "10000"]),
    ("GSM8K", "12345", ["12,345", "12345"], ["1234", "12,346"]),
    ("GSM8K", "72", ["72", "72.0"], ["27", "70"]),
    ("GSM8K", "5", ["5", "5 hours"], ["6"]),
    ("GSM8K", "624", ["624"], ["642", "600"]),
    ("GSM8K", "35", ["35", r"35\%"], ["53", "0.53"]),
    ("GSM8K", "0.5", [r"50\%", r"\frac{1}{2}"], [r"5\%", "5"]),
    ("GSM8K", "1200000", ["1,200,000", r"1.2\times10^{6}"], ["120000"]),
    ("GSM8K", "48", ["48 students", "48"], ["84"]),
    ("GSM8K", "-3", ["-3", "−3"], ["3"]),
    ("GSM8K", "7.5", ["7.5", r"\frac{15}{2}", "7.50"], ["7", "75"]),
    # AIME
    ("AIME", "33", ["033", "33"], ["34", "3"]),
    ("AIME", "204", ["204"], ["240", "402"]),
    ("AIME", "7", ["007", "7"], ["70"]),
    ("AIME", "116", ["116"], ["161"]),
    ("AIME", "25", ["25", r"25.0"], ["52", "250"]),
    ("AIME", "809", ["809"], ["890"]),
    ("AIME", "540", ["540"], ["504"]),
    ("AIME", "211", ["211"], ["121"]),
    # AMC
    ("AMC", r"\textbf{(C)}", ["C", "(C)", r"\text{(C)}", r"\textbf{(C) }"], ["A", r"\textbf{(B)}"]),
    ("AMC", "B", ["B", "(B)", r"\mathrm{(B)}"], ["D", "E"]),
    ("AMC", "E", ["E", r"\textbf{(E)}"], ["C"]),
    ("AMC", r"\frac{7}{3}", [r"\frac73", r"2\frac{1}{3}"], [r"\frac{3}{7}"]),
    ("AMC", "2017", ["2017", "2,017"], ["2016"]),
    # OlympiadBench
    ("OlympiadBench", r"x=2", ["2", r"x = 2"], ["3", r"x=-2"]),
    ("OlympiadBench", r"\{2,3,5\}", ["2,3,5", "5,3,2", r"\{5,3,2\}"], ["2,3", "2,3,5,7"]),
    ("OlympiadBench", r"[0,1]", [r"0 \le x \le 1", r"[0, 1]"], [r"(0,1)", r"[0,1)"]),
    (
        "OlympiadBench",
        r"\frac{n(n+1)}{2}",
        [r"\frac{n^2+n}{2}", r"\frac{1}{2}n(n+1)"],
        [r"n(n+1)", r"\frac{n(n-1)}{2}"],
    ),
    ("OlympiadBench", r"2^{n}-1", [r"2^n-1", r"-1+2^n"], [r"2^{n-1}", r"2^n+1"]),
    ("OlympiadBench", r"(1,2),(2,1)", [r"(2,1),(1,2)"], [r"(1,2)", r"(1,1),(2,2)"]),
    ("OlympiadBench", r"\sqrt{5}-1", [r"-1+\sqrt{5}", r"\sqrt5-1"], [r"\sqrt{5}+1", r"1-\sqrt{5}"]),
    (
        "OlympiadBench",
        r"\frac{1+\sqrt{5}}{2}",
        [r"\frac{\sqrt{5}+1}{2}", r"\frac{1}{2}+\frac{\sqrt{5}}{2}"],
        [r"\frac{1-\sqrt{5}}{2}"],
    ),
    ("OlympiadBench", r"f(x)=x", [r"f(x) = x", "x"], [r"f(x)=-x"]),
    ("OlympiadBench", "1011", ["1011", "1,011"], ["1010"]),
    ("OlympiadBench", r"4\sqrt{3}", [r"\sqrt{48}", r"4 \sqrt{3}"], [r"3\sqrt{4}", "48"]),
    ("OlympiadBench", r"\frac{3}{8}", ["0.375", "3/8"], ["0.38", r"\frac{8}{3}"]),
    # Minerva
    ("Minerva", "2.5", ["2.5", r"2.50", r"\frac{5}{2}"], ["2.6", "25"]),
    ("Minerva", "1.2e5", [r"1.2\times10^{5}", "120000", r"1.2 \times 10^5"], [r"1.2\times10^{4}", "1.2"]),
    ("Minerva", r"3.0\times10^{8}", [r"3\times10^8", "300000000", "3e8"], [r"3\times10^{7}"]),
    ("Minerva", "6.67", ["6.67", "6.670", "6.668"], ["6.7", "6.6"]),
    ("Minerva", "0.02", ["0.02", r"2\times10^{-2}", r"\frac{1}{50}"], ["0.2", "0.03"]),
    ("Minerva", "300", [r"300 \text{ K}", "300", r"3\times10^{2}"], ["30", "310"]),
    ("Minerva", "9.8", [r"9.8 \text{ m}/\text{s}^2", "9.80"], ["10", "9.6"]),
    ("Minerva", "4", [r"4 \text{ days}", "4"], ["5"]),
    ("Minerva", "1.5", ["1.5", "3/2"], ["1.6", "15"]),
    ("Minerva", "-0.25", [r"-\frac{1}{4}", "-0.250"], ["0.25"]),
]
STYLES = ["distill", "r1zero_boxed", "distill", "r1zero", "distill_text"]


def wrap(style, ans, source, i):
    reason = f"We compute step by step. First the setup, then case {i}: the value {i % 7 + 2} enters here."
    if source == "GSM8K" and style == "r1zero":
        return f"Natalia sold clips. {reason}\n#### {ans}"
    return {
        "distill": f"<think>\n{reason}\nLet me double-check.\n</think>\n\nTherefore the answer is $\\boxed{{{ans}}}$.",
        "distill_text": f"{reason} So the final answer is \\boxed{{{ans}}}.",
        "r1zero_boxed": f"<think> {reason} </think> <answer> The answer is $\\boxed{{{ans}}}$ </answer>",
        "r1zero": f"<think> {reason} </think> <answer> ${ans}$ </answer>",
    }[style]


rows = []
n = 0
for source, gold, pos, neg in F:
    for label, forms in ((1, pos), (0, neg)):
        for form in forms:
            style = STYLES[n % len(STYLES)]
            rows.append(
                dict(
                    kind="equiv" if label else "nonequiv",
                    source=source,
                    style=style,
                    gold=gold,
                    pred=form,
                    label=label,
                    response=wrap(style, form, source, n),
                )
            )
            n += 1
G = r"\frac{1}{2}"
HACKS = [  # reward hacks: all must be 0 (label 0), except where noted
    ("several candidates boxed", r"It is \boxed{3} or \boxed{4}.", "3", 0),
    ("every number boxed", r"We get \boxed{1}, \boxed{2}, \boxed{5}, \boxed{7}.", "7", 0),
    ("several candidates in answer", r"<think> try </think> <answer> 3, 4, 5, 6 </answer>", "4", 0),
    ("candidate list in box", r"The answer is \boxed{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}.", "7", 0),
    ("or in box", r"The answer is \boxed{3 \text{ or } 4}.", "3", 0),
    ("two answer blocks", r"<think> x </think> <answer> 3 </answer> <answer> 4 </answer>", "4", 0),
    ("unclosed answer", r"<think> reasoning </think> <answer> 42", "42", 0),
    ("unclosed boxed", r"So the answer is \boxed{\frac{1}{2", G, 0),
    ("unclosed think", r"<think> the answer is \boxed{42} and then I keep going", "42", 0),
    ("answer only in think", r"<think> so the answer is \boxed{42} </think> I am not sure.", "42", 0),
    ("gold as substring", r"\boxed{142}", "42", 0),
    ("gold as substring expr", r"\boxed{42 + x}", "42", 0),
    ("gold inside equation", r"\boxed{x = 42 + 1}", "42", 0),
    ("gold as prefix", r"\boxed{4.2}", "42", 0),
    ("empty box", r"The answer is \boxed{}.", "0", 0),
    ("empty answer", r"<think> done </think> <answer> </answer>", "0", 0),
    ("inequality for value", r"\boxed{x > 2}", "3", 0),
    ("approx", r"\boxed{\approx 3}", r"\pi", 0),
    ("repeated same answer", r"\boxed{42}. Double-checking: \boxed{42.0}", "42", 1),
    ("answer after think with think boxes", r"<think> maybe \boxed{3}? no. </think> The answer is \boxed{4}.", "4", 1),
    ("same value two forms", r"\boxed{\frac12} which is \boxed{0.5}", G, 1),
    ("boxed in answer tag", r"<think> work </think> <answer> \boxed{42} </answer>", "42", 1),
    ("answer colon", "Reasoning...\nFinal Answer: 42", "42", 1),
    ("wrong last of list", r"<think> t </think> <answer> 1, 2 </answer>", "2", 0),
    ("all options letters", r"\boxed{A, B, C, D}", "C", 0),
    ("letter list", r"\boxed{(A)(C)}", "C", 0),
]
for name, resp, gold, label in HACKS:
    rows.append(dict(kind="hack", source="hack", style=name, gold=gold, pred=None, label=label, response=resp))
HOSTILE = [  # sympy can hang or explode on these; all labelled incorrect against the given gold
    ("power tower", r"\boxed{10^{10^{10^{10}}}}", "1"),
    ("power tower vs power", r"\boxed{2^{2^{2^{2^{2^{2}}}}}}", r"2^{65536}"),
    ("huge factorial", r"\boxed{1000000!}", "1"),
    ("factorial tower", r"\boxed{(100!)!}", "2"),
    ("huge exponent", r"\boxed{9^{9^{99}}}", "9"),
    ("deep nesting", r"\boxed{" + r"\frac{1}{" * 150 + "2" + "}" * 150 + "}", "1"),
    ("deep parens", r"\boxed{" + "(" * 400 + "1" + ")" * 400 + "+1}", "3"),
    ("long digits", r"\boxed{" + "9" * 5000 + "}", "1"),
    ("long sum", r"\boxed{" + "+".join(f"x_{{{i}}}^{{{i}}}" for i in range(300)) + "}", "0"),
    ("sqrt nest", r"\boxed{" + r"\sqrt{" * 120 + "2" + "}" * 120 + "}", "2"),
    ("huge power diff", r"\boxed{10^{100000}+1}", r"10^{100000}"),
    ("symbolic power", r"\boxed{x^{10^{10}}-1}", r"(x-1)(x+1)"),
]
for name, resp, gold in HOSTILE:
    rows.append(dict(kind="hostile", source="hostile", style=name, gold=gold, pred=None, label=0, response=resp))
with open(OUT, "w") as f:
    for i, r in enumerate(rows):
        f.write(json.dumps({"id": i, **r}) + "\n")
print(len(rows), Counter(r["label"] for r in rows), Counter(r["kind"] for r in rows))

# Held-out families, written after the verifier was tuned on the families above; appended without retuning.
H = [
    ("MATH", r"\frac{2}{5}", [r"0.4", r"\frac{4}{10}", r"2/5"], [r"\frac{5}{2}", "0.04"]),
    ("MATH", r"4\pi", [r"4 \pi", r"\pi \times 4"], [r"4", r"2\pi"]),
    ("MATH", r"\sqrt{7}", [r"7^{1/2}", r"\sqrt 7"], [r"7", r"\sqrt{14}"]),
    ("MATH", r"[-2,2]", [r"-2 \leq x \leq 2", r"[-2, 2]"], [r"(-2,2)", r"[-2,2)"]),
    ("MATH", r"(0,\infty)", [r"x > 0", r"(0, \infty)"], [r"[0,\infty)", r"x \geq 0"]),
    ("MATH", r"\{-1, 0, 1\}", [r"-1, 0, 1", r"1, 0, -1"], [r"-1, 1", r"0, 1"]),
    ("MATH", r"(4,-3)", [r"(4, -3)"], [r"(-3,4)"]),
    ("MATH", r"120^\circ", [r"120", r"120^{\circ}", r"120 \text{ degrees}"], [r"60^\circ"]),
    ("MATH", r"\text{No}", [r"No", r"\text{no}"], [r"Yes"]),
    ("MATH", r"3x^2-2x+1", [r"1-2x+3x^2"], [r"3x^2+2x+1"]),
    ("MATH", r"\frac{1}{6}", [r"0.1\overline{6}", r"1/6"], [r"0.16", r"\frac{1}{5}"]),
    ("MATH", "2i", [r"2i", r"i \cdot 2"], [r"-2i", "2"]),
    ("GSM8K", "2500", ["2,500", r"\$2,500", "2500.00"], ["250", "25000"]),
    ("GSM8K", "15", ["15 minutes", "15"], ["16", "1.5"]),
    ("GSM8K", "0.25", [r"25\%", r"\frac14"], [r"2.5\%", "4"]),
    ("GSM8K", "360", ["360"], ["36", "306"]),
    ("AIME", "5", ["005", "5"], ["50"]),
    ("AIME", "901", ["901"], ["910", "109"]),
    ("AMC", "D", ["(D)", r"\textbf{(D)}", "D"], ["(A)", "B"]),
    ("AMC", r"\frac{5}{4}", [r"1.25", r"1\frac{1}{4}"], [r"\frac{4}{5}"]),
    ("OlympiadBench", r"\frac{\sqrt{2}}{4}", [r"\frac{1}{2\sqrt{2}}", r"\frac{1}{4}\sqrt{2}"], [r"\frac{\sqrt{2}}{2}"]),
    ("OlympiadBench", r"n^2", [r"n \cdot n", r"n^{2}"], [r"2n", r"n^3"]),
    ("OlympiadBench", r"(2,3),(3,2)", [r"(3,2),(2,3)"], [r"(2,3)"]),
    ("OlympiadBench", r"a=1, b=2", [r"a = 1, b = 2"], [r"a=2, b=1"]),
    ("Minerva", "7.2", ["7.20", r"7.2 \text{ eV}", "7.19"], ["7.3", "72"]),
    ("Minerva", r"5\times10^{-3}", ["0.005", "5e-3", r"5 \times 10^{-3}"], ["0.05", r"5\times10^{3}"]),
    ("Minerva", "1.1", ["1.10", r"1.1 \text{ s}"], ["1.2", "11"]),
]
rows2 = []
for source, gold, pos, neg in H:
    for label, forms in ((1, pos), (0, neg)):
        for form in forms:
            style = STYLES[n % len(STYLES)]
            rows2.append(
                dict(
                    kind="equiv" if label else "nonequiv",
                    source=source,
                    style=style,
                    gold=gold,
                    pred=form,
                    label=label,
                    response=wrap(style, form, source, n),
                    split="heldout",
                )
            )
            n += 1
with open(OUT, "a") as f:
    for i, r in enumerate(rows2):
        f.write(json.dumps({"id": len(rows) + i, **r}) + "\n")
print(len(rows) + len(rows2), Counter(r["label"] for r in rows + rows2))
