"""Read the chosen option letters out of a model's free text, the way a careful grader would.

`extract_answer` returns the sorted letter set ("", "C", "ACD"). Rules, in order; the first
that finds letters wins:

1. clean: full-width to half-width (NFKC), markdown emphasis removed, closed `<think>` blocks
   dropped (their content is only searched if nothing else answers), text cut where the
   model starts inventing a new question or dialogue turn;
2. `\\boxed{...}`;
3. an answer statement: a cue (答案是/为/：, 正确答案, 正确选项, 故选, 应选, 而是, The answer is, Answer:)
   immediately followed by a letter list ("A、C、D", "D,B", "(B)"); a negated cue
   (答案不是A) is not a statement, so "答案不是A，而是C" reads C;
4. the text opens with a letter list ("C", "C. 二甲双胍", "ACE都正确");
5. a claim of correctness anywhere ("选项A、C正确", "ACE都正确");
6. option text: with options known, the text after a cue (or the whole text) naming exactly the
   option(s): "答案是二甲双胍".

A single-answer question never gets more than one letter: several distinct letters there
("答案是A或C") are ambiguous and read as "" (scored wrong). Letters that are not options of
the question are ignored. Unreadable text gives "", never a guess.

`official_extract` is the official CMB rule (first `答案(是|：|为…)` match, else every
capital A-G in the text), kept as the baseline the tests compare against.
"""

from __future__ import annotations

import re
import unicodedata

from collectivesft.benchmarks.cmb.format import LETTERS as ALL_LETTERS, MULTI

# A list of option letters: "A", "ACE", "A、C、D", "D, B", "A和C". A letter must not touch
# other Latin letters (so "DNA", "ACEI" and "The" are words, not answers) nor be followed by
# 项 ("A项错误" talks about option A, it does not choose it).
_LETTER = r"(?<![A-Za-z])[A-F](?![a-zA-Z项])"
_RUN = r"(?<![A-Za-z])[A-F]{1,6}(?![a-zA-Z项])"
_SEP = r"(?:\s*(?:[、,/&+]|和|及|与|以及|或者|或)\s*|\s+)"
_LIST = rf"(?:{_RUN}|{_LETTER})(?:{_SEP}(?:{_RUN}|{_LETTER}))*"
_OPEN = r"[\s\(\[（【\"'“‘<]*"
_CUE = (
    r"(?:最终答案|正确答案|参考答案|标准答案|答案|正确选项|正确的选项|正确的答案|答)\s*(?:应该|应当|应|当|可能)?\s*(?:是|为|:|选择|选)(?:\s*:)?\s*(?:选项)?"
    r"|(?:答案|正确选项)[\s】\]):]*(?=[A-F])"
    r"|(?<!不)(?<!不应)(?<!不能)(?<!首)选(?:择)?\s*(?:选项)?"
    r"|(?<!不)(?:正确|对)的?(?:选项|答案)?(?:是|为|有)\s*:?\s*(?:选项)?"
    r"|(?:而是|实为|应为)\s*(?:选项)?"
    r"|(?i:(?:the\s+)?(?:final\s+|correct\s+|best\s+)?(?:answer|option|choice)\s*(?:is|would\s+be|should\s+be|:)\s*(?:option\s+)?)"
)
_STATEMENT = re.compile(rf"(?:{_CUE}){_OPEN}({_LIST})")
_CUE_ONLY = re.compile(rf"(?:{_CUE})\s*([^。\n;]*)")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_LEADING = re.compile(
    rf"^{_OPEN}(?:选项)?({_LIST})[\s\)\]）】\"'”’>]*(?=$|[.。,:;!?]|都|均|正确|是正确|为正确|对|选项|\s)")
_CLAIM = re.compile(rf"(?:选项)?({_LIST})\s*(?:项|选项)?\s*(?:都|均|全)?\s*(?:是|为)?\s*(?:正确|对的|符合题意)")
_THINK = re.compile(r"<think>(.*?)</think>", re.S)
# The model stops answering and starts a new exam item or dialogue turn: ignore the rest.
_CONTINUATION = re.compile(
    r"\n\s*(?:问:|题目:|以下是中国|Human:|User:|用户:|Question:|###)|<\|im_start\|>|<\|im_end\|>|<\|endoftext\|>|</s>")


def _clean(text: str) -> tuple[str, str]:
    """(visible text, thinking text): NFKC-normalised, emphasis stripped, continuations cut."""
    text = unicodedata.normalize("NFKC", text or "")
    thoughts = " ".join(_THINK.findall(text))
    text = _THINK.sub(" ", text)
    if "</think>" in text:  # the opening tag was part of the prompt
        head, _, text = text.rpartition("</think>")
        thoughts = (thoughts + " " + head).strip()
    text = text.replace("<think>", " ")
    text = re.sub(r"[*_`#]+", "", text)
    cut = _CONTINUATION.search(text)
    if cut:
        text = text[: cut.start()]
    return text.strip(), thoughts


def _letters(found: str, allowed: str) -> str:
    return "".join(sorted({c for c in found if c in allowed}))


def _option_texts(segment: str, options: dict[str, str]) -> str:
    """Letters whose option text appears in `segment` (longest texts first, no overlaps)."""
    taken = [False] * len(segment)
    letters = set()
    for letter, text in sorted(options.items(), key=lambda kv: -len(kv[1])):
        if not text:
            continue
        start = segment.find(text)
        while start != -1:
            if not any(taken[start:start + len(text)]):
                letters.add(letter)
                for i in range(start, start + len(text)):
                    taken[i] = True
                break
            start = segment.find(text, start + 1)
    return "".join(sorted(letters))


def _find(text: str, allowed: str, options: dict[str, str] | None) -> str:
    """The first rule (boxed, statement, leading list, claim, option text) that yields letters."""
    for pattern in (_BOXED, _STATEMENT):
        for match in pattern.finditer(text):
            letters = _letters(re.sub(r"[^A-F]", " ", match.group(1)) if pattern is _STATEMENT else match.group(1), allowed)
            if letters:
                return letters
    for pattern in (_LEADING, _CLAIM):
        match = pattern.search(text)
        if match and (letters := _letters(match.group(1), allowed)):
            return letters
    if options:
        for match in _CUE_ONLY.finditer(text):
            if letters := _option_texts(match.group(1), options):
                return letters
        head = re.split(r"[。\n]", text.lstrip(" :.,。\"'“"), maxsplit=1)[0]
        if letters := _option_texts(head, options):
            return letters
    return ""


def extract_answer(text: str, question_type: str = "单项选择题", options: dict[str, str] | None = None) -> str:
    """The sorted option letters `text` chooses, or "" when it chooses nothing readable."""
    allowed = "".join(sorted(options)) if options else ALL_LETTERS
    visible, thoughts = _clean(text)
    letters = _find(visible, allowed, options)
    if not letters and thoughts:
        letters = _find(_clean(thoughts)[0], allowed, options)
    if question_type != MULTI and len(letters) > 1:
        return ""  # two letters for a one-letter question: ambiguous, not a guess
    return letters


_OFFICIAL = re.compile(r"(答案|正确选项)(?:是|：|为|应该是|应该为)(.*?)(。|\.|$)", re.S)


def official_extract(text: str, question_type: str = "单项选择题") -> str:
    """The official CMB rule, as a baseline: first answer statement, else every capital A-G."""
    match = _OFFICIAL.search(text)
    source = match.group(2) if match else text
    choice = "".join(c for c in source if c in "ABCDEFG")
    if len(choice) > 1 and question_type != MULTI:
        choice = choice[0]
    return choice
