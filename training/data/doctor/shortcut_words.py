"""The shortcut audit's findings in plain words: what the photos share, and what to do.

"In elsa/, every photo has a black frame 15-30 px wide; in darth_vader/, 0 of 275 do. The
model may learn the frame instead of Elsa. Remove the frames (crop them off), or add
photos with frames to darth_vader/."
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from training.data.doctor.shortcut_audit import Combined, Finding, ShortcutWarning
from training.data.doctor.shortcut_facts import NIGHT, NO_CAMERA, AuditPhoto, Fact, colour_name

EXAMPLES = 4  # example photos per class in a warning
OTHERS_LISTED = 4  # other classes named one by one in a message

# family -> (what the model may learn, what to do; {others} are the other classes' folders)
THING_AND_ADVICE = {
    "frame": (
        "the frame",
        "Remove the frames (crop them off), or add photos with frames to {others}.",
    ),
    "bars_tb": ("the bars", "Crop the bars off, or add photos with such bars to {others}."),
    "format": (
        "the file format",
        "Save every photo in one format (e.g. convert them all to JPEG), or put photos of "
        "each format in every class.",
    ),
    "size": (
        "the photo size",
        "Resize the photos so that every class has similar sizes, or add photos of each "
        "size to every class.",
    ),
    "aspect": (
        "the photo shape",
        "Crop the photos to similar shapes, or add photos of each shape to every class.",
    ),
    "quality": (
        "the JPEG compression",
        "Save the photos at one JPEG quality, or add photos of each kind to every class.",
    ),
    "camera": (
        "the camera's look (its colours, noise and view)",
        "Add photos taken with each camera to every class.",
    ),
    "night": ("night-time light", "Add photos taken by night and by day to every class."),
    "dark": ("the darkness", "Add dark and bright photos to every class."),
    "corner_pattern": (
        "what is in the {corner} corner",
        "Crop that corner off or remove the mark, or add photos with the same mark to {others}.",
    ),
    "corner_detail": (
        "what is in the {corner} corner",
        "Crop that corner off or remove what is there (text, a logo), or add such photos to "
        "{others}.",
    ),
}
THING_AND_ADVICE["bars_lr"] = THING_AND_ADVICE["bars_tb"]  # side bars: the same words
FAMILY_NAMES = {
    "frame": "frames",
    "bars_tb": "bars above and below",
    "bars_lr": "bars left and right",
    "format": "file format",
    "size": "photo size",
    "aspect": "photo shape",
    "quality": "JPEG quality",
    "camera": "camera",
    "night": "time of day",
    "dark": "darkness",
    "corner_detail": "detail in the corners",
}


def subject(label: str) -> str:
    """``darth_vader`` -> ``Darth Vader``: what a class's photos show, for a sentence."""
    words = [w for w in label.replace("_", " ").replace("-", " ").split() if w]
    return " ".join(w[0].upper() + w[1:] for w in words) or label


def folders(labels: Sequence[str]) -> str:
    names = [f"{label}/" for label in labels]
    if len(names) > OTHERS_LISTED:
        return "the other classes"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _span(values: np.ndarray) -> str:
    low, high = (round(v) for v in np.percentile(values, [10, 90]))
    return f"{low} px" if low == high else f"{low}-{high} px"


def _band_predicate(finding: Finding, photos: Sequence[AuditPhoto]) -> tuple[str, str, str]:
    fact = finding.fact
    label_of = np.array([p.label for p in photos])
    shown = finding.flags & (label_of == finding.label)
    width, colours = fact.extra["width"][shown], fact.extra["colour"][shown]
    colour = colour_name(np.median(colours, axis=0)) if len(colours) else "plain"
    where = {
        "frame": f"a {colour} frame {_span(width)} wide",
        "bars_tb": f"{colour} bars above and below the picture ({_span(width)} each)",
        "bars_lr": f"{colour} bars left and right of the picture ({_span(width)} each)",
    }[fact.family]
    return f"has {where}", f"have {where}", "do"


def _category_predicate(fact: Fact, codes: Sequence[int]) -> tuple[str, str, str]:
    names = [fact.categories[k] for k in sorted(codes)]
    if fact.family == "format":
        kinds = " or ".join(names)
        return f"is a {kinds} file", f"are {kinds} files", "are"
    cameras = " or ".join(f"'{n}'" for n in names if n != NO_CAMERA)
    if NO_CAMERA in names:
        none = "has no camera recorded in its EXIF"
        return (
            (f"{none}" if not cameras else f"was taken with {cameras} or {none}"),
            ("have no camera recorded" if not cameras else f"were taken with {cameras} or none"),
            "do",
        )
    return f"was taken with the camera {cameras}", f"were taken with the camera {cameras}", "were"


def _number_predicate(finding: Finding) -> tuple[str, str, str]:
    fact, rule = finding.fact, finding.rule
    t = rule.threshold
    more = rule.above
    if fact.family == "size":
        what = f"{'at least' if more else 'under'} {round(t)} px on the shorter side"
        return f"is {what}", f"are {what}", "are"
    if fact.family == "aspect":
        what = f"{'at least' if more else 'less than'} {t:.2f} times as wide as tall"
        return f"is {what}", f"are {what}", "are"
    if fact.family == "quality":
        what = f"saved at JPEG quality {'of at least' if more else 'under'} {round(t)}"
        return f"is {what}", f"are {what}", "are"
    if fact.family == "night":
        what = f"at night ({NIGHT[0]}:00-{NIGHT[1]:02d}:00 by the camera's clock)"
        return f"was taken {what}", f"were taken {what}", "were"
    if fact.family == "dark":
        return "is very dark (night, or underexposed)", "are very dark", "are"
    corner = fact.corner
    if fact.family == "corner_pattern":
        what = f"the same pattern in the {corner} corner (a logo, caption or the same background)"
        return f"shows {what}", f"show {what}", "do"
    what = f"more detail in the {corner} corner than in the rest of the photo (text, a logo?)"
    return f"has {what}", f"have {what}", "do"


def predicate(finding: Finding, photos: Sequence[AuditPhoto]) -> tuple[str, str, str]:
    """(singular, plural, auxiliary) of what the rule's photos are: ("is a PNG file",
    "are PNG files", "are")."""
    fact = finding.fact
    if fact.family in ("frame", "bars_tb", "bars_lr"):
        return _band_predicate(finding, photos)
    if fact.categorical:
        return _category_predicate(fact, sorted(finding.rule.codes or ()))
    return _number_predicate(finding)


def _share(picked: int, of: int) -> str:
    if of == 1:
        return "the one photo"
    if picked == of:
        return "every photo"
    return f"none of the {of} photos" if picked == 0 else f"{picked} of {of} photos"


def shares_of(finding: Finding, photos: Sequence[AuditPhoto], labels: Sequence[str]) -> dict:
    label_of = np.array([p.label for p in photos])
    known = ~np.isnan(finding.fact.values)
    return {
        label: (
            int((finding.flags & (label_of == label)).sum()),
            int((known & (label_of == label)).sum()),
        )
        for label in labels
    }


def _examples(finding: Finding, photos: Sequence[AuditPhoto], labels: Sequence[str]) -> dict:
    """A few photos of the class that the rule picks, and of each other class that it does not."""
    out: dict[str, list[str]] = {}
    for label in labels:
        want = label == finding.label
        chosen = [
            p.path
            for p, f in zip(photos, finding.flags, strict=True)
            if p.label == label and f == want
        ]
        out[label] = sorted(chosen)[:EXAMPLES]
    return out


def _typical(finding: Finding, photos: Sequence[AuditPhoto], labels: Sequence[str]) -> str:
    """What each class mostly is, for facts whose rule alone does not say it."""
    fact = finding.fact
    label_of = np.array([p.label for p in photos])
    if fact.categorical:
        parts = []
        for label in labels:
            codes = fact.values[label_of == label]
            top = fact.categories[int(np.bincount(codes.astype(int)).argmax())]
            parts.append(f"{label}/ {top}")
        return f" (mostly: {', '.join(parts[: OTHERS_LISTED + 1])})"
    if fact.family in ("size", "aspect"):
        parts = []
        for label in labels:
            mine = [p for p in photos if p.label == label]
            w = int(np.median([p.width for p in mine]))
            h = int(np.median([p.height for p in mine]))
            parts.append(f"{label}/ {w}x{h}")
        return f" (typical sizes: {', '.join(parts[: OTHERS_LISTED + 1])})"
    return ""


def finding_warning(
    finding: Finding, photos: Sequence[AuditPhoto], labels: Sequence[str]
) -> ShortcutWarning:
    """The warning for one fact that tells ``finding.label`` apart."""
    one, many, aux = predicate(finding, photos)
    shares = shares_of(finding, photos, labels)
    label = finding.label
    picked, of = shares[label]
    head = _share(picked, of)
    verb = one if head in ("every photo", "the one photo") else many
    others = [k for k in labels if k != label]
    listed = [f"in {k}/, {shares[k][0]} of {shares[k][1]} {aux}" for k in others[:OTHERS_LISTED]]
    if len(others) > OTHERS_LISTED:
        rest = [shares[k] for k in others[OTHERS_LISTED:]]
        listed.append(
            f"in the other classes, {sum(a for a, _ in rest)} of {sum(n for _, n in rest)}"
        )
    listed[-1] += _typical(finding, photos, labels)
    thing, advice = THING_AND_ADVICE[finding.fact.family]
    fill = {"corner": finding.fact.corner, "others": folders(others)}
    message = (
        f"In {label}/, {head} {verb}; {'; '.join(listed)}. The model may learn "
        f"{thing.format(**fill)} instead of {subject(label)}. {advice.format(**fill)}"
    )
    return ShortcutWarning(
        fact=finding.fact.family,
        label=label,
        message=message,
        shares=shares,
        held_out_accuracy=finding.held_out.balanced_accuracy,
        examples=_examples(finding, photos, labels),
    )


def combined_warning(
    combined: Combined,
    facts: Sequence[Fact],
    photos: Sequence[AuditPhoto],
    labels: Sequence[str],
    label_of: np.ndarray,
) -> ShortcutWarning:
    """The warning when only the facts together tell the classes apart."""
    low, high = combined.interval
    named = list(dict.fromkeys(FAMILY_NAMES[f.family] for f in facts if f.family in FAMILY_NAMES))
    message = (
        f"Together, facts about the files that are not what they show ({', '.join(named)}) "
        f"tell the classes apart: a small classifier on them alone is right on "
        f"{combined.accuracy:.0%} of held-out photos ({low:.0%}-{high:.0%}), where always "
        f"answering the largest class would be right on {combined.majority:.0%}. The model "
        "may learn them instead of what the photos show. Make the classes alike in these "
        "respects (sizes, formats, cameras, borders)."
    )
    counts = {label: int((label_of == label).sum()) for label in labels}
    return ShortcutWarning(
        fact="combined",
        label="",
        message=message,
        shares={label: (n, n) for label, n in counts.items()},
        held_out_accuracy=combined.accuracy,
        examples={
            label: sorted(p.path for p in photos if p.label == label)[:EXAMPLES] for label in labels
        },
    )
