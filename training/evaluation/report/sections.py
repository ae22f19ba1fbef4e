"""The report, section by section: each function returns one section's HTML.

Every section reads the :class:`training.evaluation.interpretation.Interpretation` of the held-out
photos (and the metrics computed from it); none computes numbers of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from training.evaluation.label_review import LabelIssue, wrong_folder_headline
from training.evaluation.proportions import proportion
from training.evaluation.report import plots
from training.evaluation.report.dataset_shortcuts import dataset_shortcuts
from training.evaluation.report.page import display_label, esc, gallery, pct, table
from training.evaluation.report.words import plural, probe_words, were

if TYPE_CHECKING:
    from pathlib import Path

    from training.evaluation.interpretation import Interpretation
    from training.evaluation.report import ReportInput


def caption(interp: Interpretation, i: int, score_of: int | None = None) -> str:
    """Thumbnail caption: the answer and its score (or one class's score), the truth.

    A "not sure" answer shows its best guess named as a guess and no score: for a photo
    unlike the training photos the class probability means nothing.
    """
    guess = esc(display_label(interp.labels[int(interp.predicted[i])]))
    answer = display_label(interp.answer(i)) if not interp.unknown[i] else "not sure"
    if score_of is None and interp.unknown[i]:
        head = f"<b>not sure</b> (only a guess: {guess})"
    elif score_of is None:
        head = f"<b>{esc(answer)}</b> {pct(interp.confidence[i])}"
    else:
        head = (
            f"{esc(display_label(interp.labels[score_of]))}: "
            f"<b>{pct(interp.probabilities[i, score_of])}</b><br>answer: {esc(answer)}"
        )
    truth = esc(display_label(interp.labels[int(interp.y_true[i])]))
    return f"{head}<br>true: {truth}<br><small>{esc(interp.names[i])}</small>"


def _photos(data: ReportInput, indices: list[int], score_of: int | None = None) -> str:
    """A gallery of these photos, each with the heatmap of the class it is shown for."""
    interp = data.interpretation
    maps = data.where.maps if data.where is not None else {}
    overlays = [
        maps[i][score_of if score_of is not None else int(interp.predicted[i])]
        if i in maps
        else None
        for i in indices
    ]
    items = [(interp.sources[i], caption(interp, i, score_of)) for i in indices]
    return gallery(items, overlays if maps else None)


def headline(data: ReportInput) -> str:
    """The answers as the user sees them: right, not sure, wrong, each with its n."""
    metrics = data.metrics
    outcomes, guess, run = metrics.outcomes, metrics.best_guess, metrics.run
    sentence = outcomes.headline(lambda count: f"<b>{count}</b>")
    why = f"<p class='muted'>Why: {esc(run.evaluation_reason)}.</p>" if run else ""
    hesitant = outcomes.uncertain
    return (
        f"<h1>{esc(data.title)}</h1>"
        f"<p class='headline'>{sentence[:1].upper()}{sentence[1:]}.</p>"
        f"<p>When it answers, it is right {outcomes.right_when_answered.interval()} of "
        f"the time; it answers {outcomes.coverage.interval()} of photos. "
        f"{plural(hesitant, 'answer').capitalize()} {were(hesitant)} hesitant (its top two "
        f"classes close). Numbers from the {esc(metrics.evaluation)}; ranges are 95% "
        "intervals (the true figure is in the range 19 times out of 20).</p>"
        f"{why}{_cross_validation_words(metrics.evaluation)}"
        f"<p class='muted'>Best guess, counting the not-sure answers too: "
        f"{pct(guess.accuracy.value)} correct on <b>{guess.n}</b> held-out photos "
        f"({guess.accuracy.interval()}) ({esc(metrics.evaluation)}).</p>"
    )


def _cross_validation_words(evaluation: str) -> str:
    """One line on what cross-validation is, when the numbers come from it."""
    if "cross-validation" not in evaluation:
        return ""
    return (
        "<p class='muted'>Cross-validation: the photos are dealt into parts; each part is "
        "answered by a model trained on the others only, so every photo gets an answer "
        "from a model that never saw it (copies of a photo stay in one part).</p>"
    )


def shortcut_warnings(data: ReportInput) -> str:
    """A class learnt from borders or one fixed spot, said before anything else."""
    where = data.where
    if where is None or not where.warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in where.warnings)
    return (
        "<h2>Check for shortcuts</h2><ul class='warnings'>" + items + "</ul>"
        "<p class='muted'>See “Where it looked” below: each class's average heatmap.</p>"
    )


def where_it_looked(data: ReportInput) -> str:
    """Each class's average heatmap over its held-out photos, and how to read it."""
    where = data.where
    if where is None or not where.available:
        return (
            "<h2>Where it looked</h2><p class='muted'>This model's head has a hidden layer: "
            "there is no exact heatmap for it, so none is shown.</p>"
            if where is not None
            else ""
        )
    cells = "".join(
        f"<figure><img src='{plots.average_heatmap_png(grid)}' alt='average heatmap of "
        f"{esc(label)}'><figcaption>{esc(label)}</figcaption></figure>"
        for label, grid in where.class_average.items()
    )
    return (
        "<h2>Where it looked</h2><p>Bright = where the evidence for the class was, on "
        "average over its held-out photos (the model's input square: the centred square "
        "of each photo). Evidence on the edges or in one corner for a single class often "
        "means a shortcut (borders, a watermark), not the subject. The galleries above "
        "show each photo's own map.</p><div class='gallery'>" + cells + "</div>"
    )


def label_issues(data: ReportInput) -> str:
    """Photos that are probably in the wrong folder, first thing after the headline."""
    issues = data.metrics.label_issues
    if not issues:
        return ""
    shown = issues[:LABEL_ISSUES_SHOWN]
    more = len(issues) - len(shown)
    return (
        f"<h2>{wrong_folder_headline(len(issues))}</h2>"
        "<p>Each was scored by a model that never saw it, and the class it looks like is "
        "far likelier than its folder's. Beside each: the photos most like it in its own "
        "folder and in the class it looks like. Check them; move any that are misfiled and "
        "train again (isit never moves your files).</p>"
        + "".join(gallery(_suspect_row(issue)) for issue in shown)
        + (f"<p class='muted'>and {more} more: see metrics.json</p>" if more > 0 else "")
    )


def _suspect_row(issue: LabelIssue) -> list[tuple[Path | bytes, str]]:
    """The suspect, then its nearest photos in both classes, side by side."""
    suspect = (
        issue.source,
        f"in <b>{esc(issue.given)}</b>, looks like <b>{esc(issue.looks_like)}</b> "
        f"({pct(issue.probability)})<br><small>{esc(issue.name)}</small>",
    )
    near = [(source, f"<small>nearest in {esc(label)}/: {esc(name)}</small>")
            for name, source, label in issue.neighbours]  # fmt: skip
    return [suspect, *near]


def facts(data: ReportInput) -> str:
    if not data.facts:
        return ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in data.facts.items())
    return f"<table class='facts'>{rows}</table>"


def warnings(data: ReportInput) -> str:
    if not data.metrics.warnings:
        return ""
    items = "".join(f"<li>{esc(w)}</li>" for w in data.metrics.warnings)
    return f"<h2>Dataset warnings</h2><ul class='warnings'>{items}</ul>"


def per_class(data: ReportInput) -> str:
    guess = data.metrics.best_guess
    rows = [
        (
            esc(display_label(label)),
            str(v.n),
            v.precision.interval(),
            v.recall.interval(),
            f"{v.f1:.3f}",
        )
        for label, v in guess.per_class.items()
    ]
    matrix = plots.confusion_svg(list(data.labels), guess.confusion)
    return (
        "<h2>Per class</h2><div class='row'>"
        + table(rows, ("class", "photos", "precision", "recall", "F1"), "classes")
        + f"<img class='plot' src='{matrix}' alt='confusion matrix'></div>"
        + "<p class='muted'>Precision: of the photos it called this class, the share that "
        "were. Recall: of this class's photos, the share it found. F1: the two in one "
        f"number (1 is perfect). Score error: {pct(guess.ece)} (how far, on average, "
        "an answer's score is from how often such answers are right; 0 is perfect).</p>"
    )


def calibration(data: ReportInput) -> str:
    """Do the scores mean what they say? The reliability diagram, ECE before and after."""
    if data.metrics.run is None or data.raw_probabilities is None:
        return ""
    block, interp = data.metrics.run.calibration, data.interpretation
    plot = plots.reliability_svg(data.raw_probabilities, interp.probabilities, interp.y_true)
    return (
        "<h2>Do the scores mean what they say?</h2><div class='row'>"
        f"<img class='plot' src='{plot}' alt='reliability diagram'>"
        f"<p>An answer given with 80% should be right about 80% of the time. The model's "
        f"scores are made bolder or humbler by one number, its “temperature” "
        f"({block.temperature:.2f}; 1 changes nothing), chosen so that they match how "
        f"often answers were right ({esc(block.fitted_on)}"
        f"{OUT_OF_FOLD if 'out-of-fold' in block.fitted_on else ''}). The average gap "
        "between a "
        f"score and the share of such answers that were right, on the {block.n} held-out "
        f"photos, went from {pct(block.ece_before)} to <b>{pct(block.ece_after)}</b>.</p>"
        "</div>"
    )


def mistakes(data: ReportInput) -> str:
    interp = data.interpretation
    return (
        "<h2>Most confidently wrong</h2>"
        + _photos(data, interp.most_confidently_wrong())
        + "<h2>Least confident right</h2>"
        + _photos(data, interp.least_confident_right())
    )


def by_class_scores(data: ReportInput) -> str:
    """Two classes: the most X-like and the most Y-like photos (one class's bottom is the
    other's top). More: the top and bottom 10 of the first two classes."""
    interp = data.interpretation
    parts = []
    if len(interp.labels) == 2:
        for c, label in enumerate(interp.labels):
            name = esc(display_label(label))
            parts.append(f"<h2>Most {name}-like</h2>")
            parts.append(_photos(data, interp.top_by_class(c), c))
        return "".join(parts)
    for c in range(min(2, len(interp.labels))):
        name = esc(interp.labels[c])
        parts.append(f"<h2>Score for “{name}”: top 10</h2>")
        parts.append(_photos(data, interp.top_by_class(c), c))
        parts.append(f"<h2>Score for “{name}”: bottom 10</h2>")
        parts.append(_photos(data, interp.bottom_by_class(c), c))
    return "".join(parts)


def unknown_photos(data: ReportInput) -> str:
    unknown, probes = data.metrics.unknown, data.probes
    histogram = plots.ood_svg(
        data.interpretation.ood, probes.ood if probes else None, unknown.threshold
    )
    parts = [
        "<h2>Unknown photos</h2>",
        "<p>Every photo gets an <b>unknown score</b>: how far it is from the most similar "
        "of your training photos (0: a copy of one; higher: less like any of them). A photo "
        f"is answered <b>not sure</b> when its score is above <b>{unknown.threshold:.4f}</b>."
        " Of your held-out photos "
        f"<b>{unknown.accepted.interval()}</b> are accepted; of "
        f"{unknown.probes_rejected.n} unrelated photos that ship with scikit-image and "
        f"scikit-learn, <b>{unknown.probes_rejected.interval()}</b> are rejected.</p>",
        _threshold_words(unknown.acceptance_target),
        f"<img class='plot' src='{histogram}' alt='unknown scores'>",
        _tradeoff(data),
    ]
    if probes:
        accepted = [
            n for n, rejected in zip(probes.names, probes.rejected, strict=True) if not rejected
        ]
        parts.append(
            "<p><b>Accepted although unrelated:</b> "
            + (
                esc(", ".join(probe_words(n) for n in accepted))
                if accepted
                else "none: every one was rejected"
            )
            + ".</p>"
        )
        parts.append(
            gallery(
                [
                    (
                        src,
                        f"{'rejected' if rej else '<b>accepted</b>'}: "
                        f"{esc(probe_words(name))}<br><small>unknown score {score:.3f}</small>",
                    )
                    for name, src, score, rej in zip(
                        probes.names, probes.sources, probes.ood, probes.rejected, strict=True
                    )
                ]
            )
        )
    return "".join(parts)


def _threshold_words(target: float | None) -> str:
    share = f"{target:.0%}" if target is not None else "most"
    return (
        f"<p>The threshold accepts {share} of your photos when each cluster of look-alike "
        "photos is left out and scored against the others, which imitates photos taken "
        "elsewhere. To refuse more things like those accepted below, add a folder named "
        "<code>other</code> with photos of them.</p>"
    )


def _tradeoff(data: ReportInput) -> str:
    """The threshold's trade-off on this folder, and how to pick another point."""
    probes = data.probes
    if not probes or not len(probes.ood) or not data.unknown_points:
        return ""
    held, threshold = data.interpretation.ood, data.metrics.unknown.threshold
    rows = []
    for target, cut in data.unknown_points:
        accepted = proportion(int((held <= cut).sum()), len(held))
        rejected = proportion(int((probes.ood > cut).sum()), len(probes.ood))
        mark = " (this model)" if cut == threshold else ""
        rows.append([f"{target:g}{mark}", f"{cut:.4f}", accepted.text(), rejected.text()])
    header = ["--unknown-acceptance", "threshold", "your held-out photos accepted",
              "unrelated photos rejected"]  # fmt: skip
    return (
        "<p><b>The trade-off.</b> A higher threshold refuses fewer of your photos and lets "
        "more unrelated ones through. The threshold another <code>isit train "
        "--unknown-acceptance</code> would choose, and what it would have done here (one "
        "threshold for every held-out photo, so the figures differ a little from those "
        "above):</p>" + table(rows, header)
    )


def what_next(data: ReportInput) -> str:
    """Try it, put it online, and which photos would help most."""
    per_class = data.metrics.best_guess.per_class
    weakest = min(per_class, key=lambda label: (per_class[label].recall.value, per_class[label].n))
    smallest = min(per_class, key=lambda label: per_class[label].n)
    model = data.facts.get("model file", "model.onnx")
    tips = [
        f"<li>Try it in a browser: <code>isit serve --model {esc(model)}</code>, then "
        "drop photos on the page.</li>",
        "<li>Put it online: copy model.onnx to <code>model/model.onnx</code> and run "
        "<code>azd up</code> (the first time) or <code>azd deploy api</code>.</li>",
        f"<li>To improve it: add photos of <b>{esc(display_label(weakest))}</b>, the class it "
        f"finds least often (recall {pct(per_class[weakest].recall.value)}), especially ones "
        "like the mistakes above"
        + (
            f"; and of <b>{esc(display_label(smallest))}</b>, which has the fewest held-out "
            f"photos ({per_class[smallest].n})"
            if smallest != weakest
            else ""
        )
        + ".</li>",
    ]
    return "<h2>What next</h2><ul>" + "".join(tips) + "</ul>"


def training_curves(data: ReportInput) -> str:
    curves = plots.curves_svg(data.history)
    if not curves:
        return ""
    curve = plots.RegularisationCurve.of(data.history)
    if curve is not None:  # the exact head: no epochs, a regularisation chosen by CV
        return (
            "<h2>Choosing the regularisation</h2><p class='muted'>Regularisation holds the "
            "model back from memorising its training photos; C is how much (smaller: more "
            f"held back). The {esc(curve.quantity)} of the training photos for each C, each "
            "photo answered by a model trained without it; the red line is the one the "
            f"model uses (C = {curve.chosen_c:.3g}; on a tie, the one whose scores were "
            f"closer to the truth).</p><img class='plot' src='{curves}' alt='regularisation'>"
        )
    return f"<h2>Training curves</h2><img class='plot' src='{curves}' alt='curves'>"


LABEL_ISSUES_SHOWN = 30
OUT_OF_FOLD = "; out-of-fold: each photo answered by a model trained without it"

# In page order.
SECTIONS = (
    headline,
    dataset_shortcuts,
    shortcut_warnings,
    label_issues,
    facts,
    warnings,
    per_class,
    calibration,
    mistakes,
    by_class_scores,
    where_it_looked,
    unknown_photos,
    training_curves,
    what_next,
)
