"""Read the chosen option letters out of a model's free text, the way a careful grader would
(the collectivesft protocol; the official rule is eval/cmb/official.py's `match_choice`).

`extract_answer` returns the sorted letter set ("", "C", "ACD"). Rules, in order; the first
that finds letters wins:

1. clean: full-width to half-width (NFKC), markdown emphasis removed, closed `<think>` blocks
   dropped (their content is only searched if nothing else answers), text cut where the
   model starts inventing a new question or dialogue turn; options named in words
   (第三个选项, 选项三, the third option) rewritten as letters; **an echo of the option list**
   ("A. ...\nB. ...", every option of the question; also numbered "1. A. ...", cut off mid-list
   by the token limit, or garbage that repeats letters or names options beyond the question's)
   removed: an echo is no answer;
2. `\\boxed{...}`;
3. an answer statement: a cue (答案是/为/：/包括, 正确答案, 正确选项, 故选, 应选, 而是, The answer is,
   Answer:, the correct options are) immediately followed by a letter list ("A、C、D", "D,B",
   "(B)", "A and C") or an item ("应选择C项"); a negated cue (答案不是A) is not a statement, so "答案不是A，而是C" reads C;
   a lower-case letter only right after a cue and at the end of a clause ("答案是c");
4. every line is an option line ("A. 氨氯地平\nC. 阿莫西林"): the options listed are the choice;
5. the text opens with a letter list ("C", "C. 二甲双胍", "ACE都正确") or is an item alone ("B项");
6. a claim of correctness anywhere ("选项A、C正确", "C项正确", "A和C都对", "Option C is correct");
7. option text: with options known, the text after a cue (or the whole text) naming exactly the
   option(s): "答案是二甲双胍".

A single-answer question never gets more than one letter: several distinct letters there
("答案是A或C") are ambiguous and read as "" (scored wrong). Letters that are not options of
the question are ignored. Unreadable text gives "", never a guess. `explain_answer` also names
the rule that fired, or why none did ("no answer: echo of the options").
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
_SEP = r"(?:\s*(?:[、,/&+]|和|及|与|以及|或者|或|,?\s*and|,?\s*or)\s*|\s+)"
_LIST = rf"(?:{_RUN}|{_LETTER})(?:{_SEP}(?:{_RUN}|{_LETTER}))*"
_OPEN = r"[\s\(\[（【\"'“‘<]*"
_CUE = (
    r"(?:最终答案|正确答案|参考答案|标准答案|答案|正确选项|正确的选项|正确的答案|答)\s*(?:应该|应当|应|当|可能)?\s*(?:是|为|:|选择|选|包括|包含)(?:\s*:)?\s*(?:选项)?"
    r"|(?:答案|正确选项)[\s】\]):]*(?=[A-F])"
    r"|(?<!不)(?<!不应)(?<!不能)(?<!首)选(?:择)?\s*(?:选项)?"
    r"|(?<!不)(?:正确|对)的?(?:选项|答案)?(?:是|为|有)\s*:?\s*(?:选项)?"
    r"|(?:而是|实为|应为)\s*(?:选项)?"
    r"|(?i:(?:the\s+)?(?:final\s+|correct\s+|best\s+|right\s+)?(?:answers?|options?|choices?)\s*(?:is|are|would\s+be|should\s+be|:)\s*(?:the\s+)?(?:options?\s+)?)"
)
_STATEMENT = re.compile(rf"(?:{_CUE}){_OPEN}({_LIST})")
# A statement naming the option as an item: "应选择C项", "故选A、C项".
_ITEM_STATEMENT = re.compile(rf"(?:{_CUE}){_OPEN}((?<![A-Za-z])[A-F](?:\s*[、,和及与]\s*[A-F])*)项(?!\s*(?:错|不|是错))")
# The whole answer is an item: "B项", "B项。".
_ITEM_ALONE = re.compile(rf"^{_OPEN}(?:选项)?([A-F])\s*项\s*[.。!]?\s*$")
_CUE_ONLY = re.compile(rf"(?:{_CUE})\s*([^。\n;]*)")
_BOXED = re.compile(r"\\boxed\s*\{([^{}]*)\}")
_LEADING = re.compile(
    rf"^{_OPEN}(?:选项)?({_LIST})[\s\)\]）】\"'”’>]*(?=$|[.。,:;!?]|都|均|正确|是正确|为正确|对|选项|\s)")
_CLAIM = re.compile(
    rf"(?:选项)?({_LIST})\s*(?:项|选项)?\s*(?:都|均|全)?\s*(?:是|为)?\s*(?:正确|对的|对(?![于比照应])|符合题意)"
    rf"|(?<![A-Za-z])([A-F](?:\s*[、,和及与]\s*[A-F])*)项\s*(?:都|均)?\s*(?:是|为)?\s*(?:正确|对)"
    rf"|(?i:options?\s+|choices?\s+)?\(?({_LIST})\)?\s+(?i:is|are)\s+(?i:both\s+|all\s+)?(?i:the\s+)?(?i:correct|right|true)")
# A lower-case letter read as an answer only right after a cue and before the end of a clause
# ("答案是c", "the answer is b."), so "the answer is a drug" stays prose.
_LOWER = re.compile(rf"(?:{_CUE}){_OPEN}([a-f])(?![a-zA-Z])(?=\s*(?:$|[.。,;!)\]）】\"'”’\n]))")
# An option marker starting a line or following a space: "A. ", "B、", "C)", "D:".
_MARK = re.compile(r"(?:^|(?<=\s))([A-F])\s*[.、:)]\s*(?=\S)")
# A numbering in front of an option line: "1. A. 氨氯地平".
_NUMBERED = re.compile(r"^\d{1,2}\s*[.、)]\s*(?=[A-F]\s*[.、:)])")
_ORDINALS = {"一": "A", "二": "B", "三": "C", "四": "D", "五": "E", "六": "F", "1": "A", "2": "B", "3": "C",
             "4": "D", "5": "E", "6": "F", "first": "A", "second": "B", "third": "C", "fourth": "D", "fifth": "E",
             "sixth": "F", "one": "A", "two": "B", "three": "C", "four": "D", "five": "E", "six": "F"}
# Options named in words: 第三个选项 / 第三项 / 选项三 / the third option / option three.
_WORD_OPTION = re.compile(
    r"第([一二三四五六1-6])(?:个)?(?:选项|项|个答案)|选项([一二三四五六])(?![一二三四五六七八九十])"
    r"|(?i:(?:the\s+)?(first|second|third|fourth|fifth|sixth)\s+(?:option|choice|one)|option\s+(one|two|three|four|five|six)\b)")
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
    text = _WORD_OPTION.sub(_word_option, text)
    return text.strip(), thoughts


def _word_option(match: re.Match) -> str:
    """第三个选项 -> 选项C, the third option -> option C (the forms the cue rules read)."""
    chinese, number, english, english_number = match.groups()
    if chinese or number:
        return "选项" + _ORDINALS[chinese or number]
    return "option " + _ORDINALS[(english or english_number).lower()]


def _is_echo(letters: list[str], allowed: str, at_end: bool = False) -> bool:
    """Markers that list every option of the question (or, options unknown, A, B, C, D... in
    order, at least four) are the option list repeated, not a choice; so is a list that repeats
    a letter or names options the question does not have (garbage), and a list from A on, in
    order, that the text ends in (an echo cut off by the token limit)."""
    distinct = "".join(dict.fromkeys(letters))
    if len(distinct) < 2:
        return False
    if len(distinct) < len(letters) or allowed != ALL_LETTERS and not set(distinct) <= set(allowed):
        return True
    if at_end and len(distinct) >= 3 and distinct == ALL_LETTERS[: len(distinct)]:
        return True
    if allowed != ALL_LETTERS:
        return set(distinct) == set(allowed)
    return len(distinct) >= 4 and distinct == ALL_LETTERS[: len(distinct)]


def _option_line(line: str) -> str:
    """An option line without its numbering ("1. A. ..." -> "A. ...")."""
    return _NUMBERED.sub("", line.strip())


def drop_echo(text: str, allowed: str = ALL_LETTERS) -> str:
    """`text` without runs of lines that repeat the whole option list ("A. ...\nB. ...", also
    on one line): an echo is no answer, however the rest of the text reads."""
    lines = text.split("\n")
    kept: list[str] = []
    i = 0
    while i < len(lines):
        j, letters = i, []
        while j < len(lines) and _MARK.match(_option_line(lines[j])):
            letters += _MARK.findall(_option_line(lines[j]))
            j += 1
        if j == i:
            kept.append(lines[i])
            i += 1
            continue
        at_end = not "\n".join(lines[j:]).strip()
        if not _is_echo(letters, allowed, at_end):
            kept += lines[i:j]
        i = j
    return "\n".join(kept)


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


def _find(text: str, allowed: str, options: dict[str, str] | None) -> tuple[str, str]:
    """(letters, rule name) from the first rule (boxed, statement, option lines, leading list,
    claim, option text) that yields letters; ("", "") when none does."""
    for pattern, rule in ((_BOXED, "boxed"), (_STATEMENT, "answer statement"), (_ITEM_STATEMENT, "answer statement")):
        for match in pattern.finditer(text):
            letters = _letters(re.sub(r"[^A-F]", " ", match.group(1)) if pattern is not _BOXED else match.group(1), allowed)
            if letters:
                return letters, rule
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    if len(lines) > 1 and all(_MARK.match(line) for line in lines):  # the chosen options, one per line
        if letters := _letters("".join(_MARK.match(line).group(1) for line in lines), allowed):
            return letters, "option lines"
    for match in _LOWER.finditer(text):
        if letters := _letters(match.group(1).upper(), allowed):
            return letters, "lower-case letter after a cue"
    for pattern, rule in ((_ITEM_ALONE, "leading letter"), (_LEADING, "leading letter"), (_CLAIM, "claim of correctness")):
        match = pattern.search(text)
        if match and (letters := _letters(next(g for g in match.groups() if g), allowed)):
            return letters, rule
    if options:
        for match in _CUE_ONLY.finditer(text):
            if letters := _option_texts(match.group(1), options):
                return letters, "option text after a cue"
        head = re.split(r"[。\n]", text.lstrip(" :.,。\"'“"), maxsplit=1)[0]
        if letters := _option_texts(head, options):
            return letters, "option text"
    return "", ""


def explain_answer(text: str, question_type: str = "单项选择题",
                   options: dict[str, str] | None = None) -> tuple[str, str]:
    """(the sorted letters `text` chooses, the rule that read them), or ("", "no answer: why")."""
    allowed = "".join(sorted(options)) if options else ALL_LETTERS
    visible, thoughts = _clean(text)
    kept = drop_echo(visible, allowed)
    letters, rule = _find(kept, allowed, options)
    if not letters and thoughts:
        letters, rule = _find(drop_echo(_clean(thoughts)[0], allowed), allowed, options)
        rule = rule and rule + " (in the thinking)"
    if question_type != MULTI and len(letters) > 1:
        return "", "no answer: several letters for a single-answer question"
    if letters:
        return letters, rule
    if not visible and not thoughts:
        return "", "no answer: empty output"
    if kept.strip() != visible.strip():
        return "", "no answer: echo of the options"
    return "", "no answer: nothing found"


def extract_answer(text: str, question_type: str = "单项选择题", options: dict[str, str] | None = None) -> str:
    """The sorted option letters `text` chooses, or "" when it chooses nothing readable."""
    return explain_answer(text, question_type, options)[0]
