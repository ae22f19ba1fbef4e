"""A retrain of an unchanged folder (issue 25): the same model answers, and the report's
galleries take their heatmaps from the feature maps the first run kept, so model.onnx
runs only on the photos its check needs."""

from __future__ import annotations

from training.model import graph
from training.pipeline import train
from training.pipeline.package import PARITY_PHOTOS
from training.settings import TrainConfig


def test_a_retrain_reuses_the_galleries_feature_maps(
    trained_model, sample_dataset_dir, tmp_path, monkeypatch
):
    photos_run: list[int] = []
    run_model = graph.run_with_feature_map

    def counted(path, images, **kwargs):
        photos_run.append(len(images))
        return run_model(path, images, **kwargs)

    monkeypatch.setattr(graph, "run_with_feature_map", counted)
    again = train(sample_dataset_dir, tmp_path / "again", TrainConfig(seed=0), quiet=True,
                  progress=False)  # fmt: skip
    assert photos_run == [PARITY_PHOTOS]
    first, second = trained_model.metrics.run, again.metrics.run
    assert second.where_it_looked.available
    assert second.where_it_looked.to_dict() == first.where_it_looked.to_dict()
    assert second.parity["n"] == PARITY_PHOTOS and second.parity["max_heatmap_diff"] <= 1e-4
    assert again.metrics.outcomes.to_dict() == trained_model.metrics.outcomes.to_dict()
    assert second.cache_computed == 0  # every feature came from the cache
