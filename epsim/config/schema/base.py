"""The schema's building blocks: SI quantity fields, small value types, tagged unions and the
`Section` base of every config section.

Dimensional fields convert their input to SI while they validate, using the file's declared units
passed as validation context (`Config.model_validate(data, context={"units": {...}})`). After
validation every dimensional value is an SI float (m, V, V/m, S/m, s, Hz, A, K, rad). Models built
in Python without a units context take bare numbers as SI.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union, get_args

from annotated_types import Ge, Gt, Le, MaxLen, MinLen
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from epsim.config.excerpt import excerpt
from epsim.config.units import UnitError, check_units_block, to_si, unknown_name_message


def problem(message: str, key: str | None = None) -> PydanticCustomError:
    """A validation error with our own message, optionally one key below the current location."""
    if key is None:
        return PydanticCustomError("epsim", "{message}", {"message": message})
    return PydanticCustomError("at_key", "{message}", {"message": message, "key": key})


def units_block(value: Any) -> Any:
    """A `units:` block checked (`check_units_block`), its errors at their key: the validator of
    the config's own block and of the one results files remember (`output.units`)."""
    try:
        return check_units_block(value)
    except UnitError as exc:
        raise problem(str(exc), exc.key) from None


Sign = Optional[Literal["positive", "nonnegative"]]


def quantity(kind: str, sign: Sign = None) -> Any:
    """A float field of a kind of quantity (see units.SI_UNITS), converted to SI on validation.

    Args:
        kind: the quantity kind.
        sign: "positive" (> 0), "nonnegative" (>= 0) or None (any finite value).
    """

    def convert(value: Any, info: ValidationInfo) -> float:
        units = (info.context or {}).get("units")
        try:
            result = to_si(value, kind, units)
        except UnitError as exc:
            raise problem(str(exc)) from None
        if (sign == "positive" and result <= 0) or (sign == "nonnegative" and result < 0):
            raise problem(f"must be {'> 0' if sign == 'positive' else '>= 0'}, "
                          f"got {excerpt(value)}")
        return result

    return Annotated[float, BeforeValidator(convert)]


def not_bool(value: Any) -> Any:
    """`value` unchanged unless it is a bool (YAML's true/false), which is refused."""
    if isinstance(value, bool):
        raise problem(f"expected a number, got {excerpt(value)}")
    return value


Real = Annotated[float, BeforeValidator(not_bool)]
"""A dimensionless number (YAML's true/false are not numbers)."""


def whole(minimum: int) -> Any:
    """A whole number >= minimum (no floats, no booleans)."""
    return Annotated[int, Strict(), Ge(minimum)]


Fraction = Annotated[Real, Gt(0), Le(1)]
"""A number in (0, 1]."""

Length = quantity("length")
PositiveLength = quantity("length", "positive")
PositiveVoltage = quantity("voltage", "positive")
PositiveField = quantity("field", "positive")
PositiveTime = quantity("time", "positive")
PositiveFrequency = quantity("frequency", "positive")
PositiveCurrent = quantity("current", "positive")
Angle = quantity("angle")

Vec3 = tuple[Length, Length, Length]
"""A point, each coordinate a length."""


def nonzero(vector: tuple[float, float, float]) -> tuple[float, float, float]:
    """`vector` (3,) unchanged unless it is the zero vector, which is refused."""
    if sum(c * c for c in vector) == 0.0:
        raise ValueError("a direction must not be the zero vector")
    return vector


Direction = Annotated[tuple[Real, Real, Real], AfterValidator(nonzero)]
"""A direction (dimensionless, any non-zero length; normalised where used)."""

NAME_CHARS = 64


def plain_name(value: str) -> str:
    """`value` unchanged unless it cannot name a material, structure or electrode: names become
    group names of results files and parts of file names, so no '/', no control characters,
    not '.' or '..'."""
    if value in (".", "..") or "/" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise problem(f"{excerpt(value)} cannot be a name (no '/', no control characters, "
                      "not '.' or '..')")
    return value


def one_line(value: str) -> str:
    """`value` unchanged unless it holds a line break or another control character."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise problem(f"{excerpt(value)}: no line breaks or control characters")
    return value


Name = Annotated[str, MinLen(1), MaxLen(NAME_CHARS), AfterValidator(plain_name)]
"""A material, structure, vessel or electrode name."""

Title = Annotated[str, MinLen(1), MaxLen(200), AfterValidator(one_line)]
"""A run's name."""
Role = Literal["target", "spare", "tissue"]

# Every discriminator value given to `tagged` (pydantic puts them into error locations).
TAGS_SEEN: set[str] = set()


def tagged(members: tuple[type, ...], key: str, default: Optional[str] = None) -> Any:
    """A union of sections told apart by the value of `key` (a Literal field of each member).

    A missing key takes `default` when there is one; a missing or unknown value is reported with
    the valid values.
    """
    tags = [get_args(member.model_fields[key].annotation)[0] for member in members]
    TAGS_SEEN.update(tags)

    def check(value: Any) -> Any:
        if isinstance(value, dict):
            if key not in value:
                if default is None:
                    raise problem(f"missing required key (one of: {', '.join(tags)})", key)
                value = {**value, key: default}
            elif value[key] not in tags:
                raise problem(unknown_name_message(key, value[key], tags), key)
        return value

    return Annotated[Union[members], Field(discriminator=key), BeforeValidator(check)]


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys rejected with a suggestion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if not isinstance(key, str) or key not in cls.model_fields:
                    raise problem(unknown_name_message("key", key, cls.model_fields), str(key))
        return data
