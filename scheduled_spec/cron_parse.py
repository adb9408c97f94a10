"""The cron grammar: text -> one bitmask per field, or a `CronSyntaxError` with a caret.

This module only reads text; `scheduled_spec.cron` compiles the masks into a matcher.
A field's mask has bit ``v`` set when value ``v`` is allowed (for the year field, bit
``year - YEAR_MIN``); day-of-week is folded to 0-6 with Sunday = 0 (7 is Sunday too).
"""

from __future__ import annotations

import difflib
import re

from scheduled_spec.errors import ScheduledError

YEAR_MIN, YEAR_MAX = 1970, 2199
FIELD_NAMES = ("minute", "hour", "day-of-month", "month", "day-of-week", "year")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@hourly": "0 * * * *",
    "@minutely": "* * * * *",
}
_MINUTE, _HOUR, _DOM, _MONTH, _DOW, _YEAR = range(6)
# (lowest value, highest value, highest value `*` and `a/step` reach, names or None)
_BOUNDS: tuple[tuple[int, int, int, tuple[str, ...] | None], ...] = (
    (0, 59, 59, None),
    (0, 23, 23, None),
    (1, 31, 31, None),
    (1, 12, 12, MONTHS),
    (0, 7, 6, WEEKDAYS),  # 7 is Sunday only when written; `*` and `1/2` stop at Saturday
    (YEAR_MIN, YEAR_MAX, YEAR_MAX, None),
)
_NAME_VALUES: tuple[dict[str, int], ...] = (
    {},
    {},
    {},
    {name: i + 1 for i, name in enumerate(MONTHS)},
    {name: i for i, name in enumerate(WEEKDAYS)},
    {},
)
_FIELD_SPANS = re.compile(r"\S+")


class CronSyntaxError(ScheduledError, ValueError):
    """A cron expression does not follow the grammar.

    ``field`` names the bad field (``"hour"``, or ``"expression"`` when the number of
    fields or an alias is wrong); ``position`` (0-based) and ``length`` locate the bad
    text inside ``expression``; ``reason`` says what is wrong and ``hint`` how to fix it,
    when there is a cheap suggestion.  ``str()`` renders the expression with a caret.
    """

    def __init__(
        self,
        expression: str,
        field: str,
        position: int,
        length: int,
        reason: str,
        hint: str | None = None,
    ) -> None:
        self.expression = expression
        self.field = field
        self.position = position
        self.length = max(1, length)
        self.reason = reason
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        """Three lines: ``cron: "<expr>": <reason>``, the expression, and the caret."""
        shown = self.expression.replace("\t", " ")
        pad = " " * len('cron: "')
        caret = pad + " " * self.position + "^" * self.length
        return f'cron: "{shown}": {self.reason}\n{pad}{shown}\n{caret}'


class _Bad(Exception):  # noqa: N818 - internal signal, converted to CronSyntaxError
    def __init__(self, offset: int, length: int, reason: str, hint: str | None = None) -> None:
        super().__init__(reason)
        self.offset, self.length, self.reason, self.hint = offset, length, reason, hint


def _did_you_mean(word: str, names: tuple[str, ...] | list[str]) -> str | None:
    close = difflib.get_close_matches(word.lower(), names, n=1)
    return f'did you mean "{close[0]}"?' if close else None


def _value(index: int, text: str, offset: int) -> int:
    if text.isdigit() and text.isascii():
        value = int(text)
        lo, hi = _BOUNDS[index][0], _BOUNDS[index][1]
        if lo <= value <= hi:
            return value
        hint = {
            _HOUR: "midnight is hour 0",
            _DOM: "days of the month start at 1",
            _MONTH: "months run from 1 (jan) to 12 (dec)",
            _DOW: "weekdays run from 0 (sun) to 6 (sat); 7 is sun too",
        }.get(index)
        reason = f"{FIELD_NAMES[index]} {value} is out of range {lo}-{hi}"
        raise _Bad(offset, len(text), reason, hint)
    found = _NAME_VALUES[index].get(text.lower())
    if found is not None:
        return found
    lo, hi, _, names = _BOUNDS[index]
    name = FIELD_NAMES[index]
    if not text:
        raise _Bad(offset, 1, f"{name} value is missing")
    if names is not None:
        kind = "month" if index == _MONTH else "weekday"
        reason = f'{name} "{text}" is not a {kind} name ({names[0]}-{names[-1]}) or a number'
        raise _Bad(offset, len(text), f"{reason} ({lo}-{hi})", _did_you_mean(text, names))
    raise _Bad(offset, len(text), f'{name} "{text}" is not a number ({lo}-{hi})')


def _range(index: int, text: str, offset: int) -> tuple[int, int]:
    first, dash, last = text.partition("-")
    start = _value(index, first, offset)
    if not dash:
        return start, start
    if not last:
        raise _Bad(offset, len(text), f'{FIELD_NAMES[index]} range "{text}" has no end')
    end = _value(index, last, offset + len(first) + 1)
    if index == _DOW and end == 0 and start > 0:
        end = 7  # "sat-sun" wraps to Sunday written as 7
    if end < start:
        raise _Bad(
            offset,
            len(text),
            f'{FIELD_NAMES[index]} range "{text}" runs backwards',
            f'write it from low to high, e.g. "{last}-{first}"',
        )
    return start, end


def _bits(index: int, start: int, end: int, step: int) -> int:
    if index == _YEAR:
        start, end = start - YEAR_MIN, end - YEAR_MIN
    if step == 1:
        return (2 << end) - (1 << start)
    mask = 0
    for value in range(start, end + 1, step):
        mask |= 1 << value
    return mask


def _unsupported(index: int, item: str, offset: int) -> None:
    """Quartz extensions this grammar leaves out get a precise message, not "not a number"."""
    upper, name = item.upper(), FIELD_NAMES[index]
    hint = None
    if index == _DOW and "#" in item:
        hint = "the n-th weekday of the month is not part of this grammar"
    elif index == _DOW and upper.endswith("L") and upper[:-1].lower() in (*WEEKDAYS, *"01234567"):
        hint = f'the last such weekday is written "L{item[:-1]}"'
    elif index == _DOM and upper.endswith("W") and (upper == "LW" or upper[:-1].isdigit()):
        hint = 'the nearest weekday ("W") is not part of this grammar'
    if hint:
        raise _Bad(offset, len(item), f'{name} "{item}" is not supported', hint)


def _item(index: int, item: str, offset: int) -> tuple[int, int]:
    """(mask, last-weekday mask) of one comma-separated item."""
    name = FIELD_NAMES[index]
    if index == _DOW and item[0] in "Ll":
        if len(item) == 1:
            reason = f'{name} "{item}" needs a weekday or a range of weekdays after "L"'
            raise _Bad(offset, len(item), reason, 'e.g. "Lfri" or "Lmon-fri"')
        if "/" in item:
            reason = f'{name} "{item}": the last weekdays of the month take no step'
            raise _Bad(offset, len(item), reason, 'write a list instead, e.g. "Lmon,Lwed"')
        start, end = _range(index, item[1:], offset + 1)
        return 0, _bits(index, start, end, 1)
    if "#" in item or item[-1] in "LlWw":
        _unsupported(index, item, offset)
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        step_at = offset + len(base) + 1
        if not (step_text.isdigit() and step_text.isascii()):
            raise _Bad(step_at, len(step_text), f'{name} step "{step_text}" is not a number')
        step = int(step_text)
        if step == 0:
            raise _Bad(step_at, len(step_text), f"{name} step must be at least 1, got 0")
    lo, _, top, _ = _BOUNDS[index]
    if base in {"*", "?"}:
        if base == "?" and index not in {_DOM, _DOW}:
            reason = f'"?" is only allowed in day-of-month and day-of-week, not in {name}'
            raise _Bad(offset, 1, reason)
        return _bits(index, lo, top, step), 0
    if base in {"L", "l"}:
        raise _Bad(offset, 1, f'"L" alone is only allowed in day-of-month, not in {name}')
    start, end = _range(index, base, offset)
    if slash and end == start and "-" not in base:
        end = top  # "5/10" means "5-59/10", as in Vixie cron and croniter
    return _bits(index, start, end, step), 0


def _field(index: int, text: str) -> tuple[int, int, bool]:
    """(mask, last-weekday mask, last-day flag) of one field."""
    mask = last = 0
    last_day = False
    offset = 0
    for item in text.split(","):
        if not item:
            raise _Bad(offset, 1, f"{FIELD_NAMES[index]} has an empty list item")
        if index == _DOM and item in {"L", "l"}:
            last_day = True
        else:
            bits, last_bits = _item(index, item, offset)
            mask |= bits
            last |= last_bits
        offset += len(item) + 1
    if index == _DOW:
        mask = (mask | mask >> 7) & 0x7F
        last = (last | last >> 7) & 0x7F
    return mask, last, last_day


_STAR = (
    _bits(_MINUTE, 0, 59, 1),
    _bits(_HOUR, 0, 23, 1),
    _bits(_DOM, 1, 31, 1),
    _bits(_MONTH, 1, 12, 1),
    0x7F,
    _bits(_YEAR, YEAR_MIN, YEAR_MAX, 1),
)
_DIGIT_BOUNDS = tuple((lo, hi) for lo, hi, _, _ in _BOUNDS)

Parsed = tuple[int, int, int, bool, int, int, int, bool, "int | None"]


def parse_fields(text: str) -> Parsed:
    """Parse a cron expression into the masks of `Fields`, in that order.

    Raises CronSyntaxError.  This is on the hot path of ``parse + next``: plain values
    and ``*`` take a shortcut, everything else goes through `_field`.
    """
    source = text
    if "@" in text:
        source = _alias(text)
    parts = source.split()
    count = len(parts)
    if count != 5 and count != 6:  # noqa: PLR1714 - faster than a set on the hot path
        _wrong_count(text, count)
    masks = [0, 0, 0, 0, 0, 0]
    last_day = False
    last_weekdays = 0
    for index, part in enumerate(parts):
        if part == "*":
            masks[index] = _STAR[index]
            continue
        if part.isdigit() and part.isascii():
            lo, hi = _DIGIT_BOUNDS[index]
            value = int(part)
            if lo <= value <= hi:
                masks[index] = 1 << (value % 7 if index == _DOW else value - lo * (index == _YEAR))
                continue
        try:
            masks[index], last, flag = _field(index, part)
        except _Bad as bad:
            span = list(_FIELD_SPANS.finditer(text))[index]
            raise CronSyntaxError(
                text,
                FIELD_NAMES[index],
                span.start() + bad.offset,
                bad.length,
                bad.reason,
                bad.hint,
            ) from None
        last_day = last_day or flag
        last_weekdays |= last
    dom, dow = parts[2][0], parts[4][0]
    return (
        masks[0],
        masks[1],
        masks[2],
        last_day,
        masks[3],
        masks[4],
        last_weekdays,
        # Vixie cron: a field starting with "*" (or "?") leaves the other one in charge.
        dom not in "*?" and dow not in "*?",
        masks[5] if count == 6 else None,
    )


def _alias(text: str) -> str:
    source = text.strip()
    alias = ALIASES.get(source.lower())
    if alias is not None:
        return alias
    if not source.startswith("@"):
        return text  # an "@" inside a field is reported by the field's parser
    raise CronSyntaxError(
        text,
        "expression",
        text.index("@"),
        len(source),
        f'"{source}" is not an alias ({", ".join(ALIASES)})',
        _did_you_mean(source, list(ALIASES)),
    )


def _wrong_count(text: str, count: int) -> None:
    spans = list(_FIELD_SPANS.finditer(text))
    reason = (
        "expected 5 fields (minute hour day-of-month month day-of-week)"
        f" or 6 (the sixth a year), got {count}"
    )
    if count == 0:
        hint = '"* * * * *" runs every minute'
        raise CronSyntaxError(text, "expression", 0, 1, "cron expression is empty", hint)
    if count < 5:
        hint = f'add the missing {", ".join(FIELD_NAMES[count:5])}; "*" matches every value'
        raise CronSyntaxError(text, "expression", spans[-1].end() + 1, 1, reason, hint)
    start = spans[6].start()
    raise CronSyntaxError(text, "expression", start, spans[-1].end() - start, reason, None)
