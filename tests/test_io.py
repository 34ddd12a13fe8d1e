"""Model files: exact round trips, safe loading, atomic writes; data files."""

import json
import os

import numpy as np
import pytest
from sklearn.datasets import load_iris

import gaussmix
from gaussmix import GaussianMixture, ModelFileError
from gaussmix.io import FORMAT_VERSION, read_table, write_table

pd = pytest.importorskip("pandas")


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical", "VEV", "EII"])
def test_round_trip_is_exact(tmp_path, covariance_type):
    X = pd.DataFrame(load_iris().data, columns=["sl", "sw", "pl", "pw"])
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    path = tmp_path / "m.gmm"
    gm.save(path)
    back = gaussmix.load(path)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        np.testing.assert_array_equal(getattr(back, name), getattr(gm, name))
    assert back.get_params() == gm.get_params()
    assert list(back.feature_names_in_) == ["sl", "sw", "pl", "pw"]
    assert back.lower_bounds_ == gm.lower_bounds_ and back.n_iter_ == gm.n_iter_
    np.testing.assert_array_equal(back.predict_proba(X), gm.predict_proba(X))
    meta = json.loads(np.load(path)["metadata"].tobytes())
    assert meta["gaussmix_version"] == gaussmix.__version__
    assert meta["params"]["covariance_type"] == covariance_type


def test_unfitted_model_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        GaussianMixture().save(tmp_path / "m.gmm")


def test_a_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    X = load_iris().data
    path = tmp_path / "m.gmm"
    GaussianMixture(2, random_state=0).fit(X).save(path)
    before = path.read_bytes()

    def crash(fh, **arrays):
        fh.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        GaussianMixture(3, random_state=0).fit(X).save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.gmm"]  # no temporary file left behind


def test_bad_files_give_clear_errors(tmp_path):
    X = load_iris().data
    good = tmp_path / "good.gmm"
    GaussianMixture(2, random_state=0).fit(X).save(good)
    truncated = tmp_path / "truncated.gmm"
    truncated.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    text = tmp_path / "notes.gmm"
    text.write_text("hello")
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    for path, message in [(truncated, "corrupt, truncated"), (text, "not a readable"),
                          (other, "no metadata")]:
        with pytest.raises(ModelFileError, match=message):
            gaussmix.load(path)
    with pytest.raises(FileNotFoundError):
        gaussmix.load(tmp_path / "missing.gmm")


def test_other_format_version_is_refused(tmp_path):
    path = tmp_path / "future.gmm"
    GaussianMixture(2, random_state=0).fit(load_iris().data).save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(arrays["metadata"].tobytes())
    meta["format_version"] = FORMAT_VERSION + 1
    arrays["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with open(path, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ModelFileError, match="format version"):
        gaussmix.load(path)


def test_a_pickle_inside_a_file_is_never_run(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, ("touch " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.gmm"
    meta = np.frombuffer(json.dumps({"format": "gaussmix-model"}).encode(), dtype=np.uint8)
    np.savez(path.open("wb"), metadata=meta, weights_=np.array([Boom()], dtype=object))
    with pytest.raises(ModelFileError):
        gaussmix.load(path)
    assert not (tmp_path / "pwned").exists()


def test_standardize_travels_with_the_model(tmp_path):
    X = load_iris().data
    gm = GaussianMixture(2, random_state=0).fit(X)
    gm.save(tmp_path / "m.gmm", input_transform={"center": X.mean(0), "scale": X.std(0)})
    back = gaussmix.load(tmp_path / "m.gmm")
    np.testing.assert_allclose(back.input_transform_["center"], X.mean(0))


def test_read_table_formats(tmp_path):
    frame = pd.DataFrame({"id": ["a", "b", "c"], "x": [1.0, 2.0, 3.0], "y": [4.0, 5.0, 6.0]})
    frame.to_csv(tmp_path / "d.csv", index=False)
    frame.to_csv(tmp_path / "d.tsv", index=False, sep="\t")
    frame.to_parquet(tmp_path / "d.parquet")
    np.save(tmp_path / "d.npy", frame[["x", "y"]].to_numpy())
    for name in ("d.csv", "d.tsv", "d.parquet"):
        read, X, names = read_table(tmp_path / name, ["x", "y"], keep=["id"])
        np.testing.assert_array_equal(X, frame[["x", "y"]].to_numpy())
        assert names == ["x", "y"] and list(read["id"]) == ["a", "b", "c"]
    _, X, names = read_table(tmp_path / "d.npy", ["1"])
    np.testing.assert_array_equal(X[:, 0], [4.0, 5.0, 6.0])
    with pytest.raises(ValueError, match=r"non-numeric column\(s\) \['id'\]"):
        read_table(tmp_path / "d.csv")
    with pytest.raises(ValueError, match="not in"):
        read_table(tmp_path / "d.csv", ["z"])


def test_read_table_bad_files(tmp_path):
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "bad.parquet").write_text("nope")
    with pytest.raises(ValueError, match="not a well-formed table"):
        read_table(tmp_path / "ragged.csv")
    with pytest.raises(ValueError, match="empty"):
        read_table(tmp_path / "empty.csv")
    with pytest.raises(ValueError, match="not a readable Parquet"):
        read_table(tmp_path / "bad.parquet")
    with pytest.raises(FileNotFoundError):
        read_table(tmp_path / "nothing.csv")


def test_write_table_by_extension(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": [0.5, 0.25]})
    write_table(frame, tmp_path / "o.parquet")
    write_table(frame, tmp_path / "o.csv")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "o.parquet"), frame)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "o.csv"), frame)
    with pytest.raises(ValueError, match="use a .csv"):
        write_table(frame, tmp_path / "o.xlsx")


def test_damaged_metadata_and_arrays_are_model_file_errors(tmp_path):
    path = tmp_path / "m.gmm"
    GaussianMixture(2, random_state=0).fit(load_iris().data).save(path)
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    for change in ("not a dict", "missing key", "bad shape"):
        broken = dict(arrays)
        meta = json.loads(arrays["metadata"].tobytes())
        if change == "not a dict":
            meta = ["gaussmix-model"]
        elif change == "missing key":
            del meta["n_features_in"]
        else:
            broken["means_"] = np.zeros((5, 4))
        broken["metadata"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with open(path, "wb") as fh:
            np.savez(fh, **broken)
        with pytest.raises(ModelFileError):
            gaussmix.load(path)


def test_written_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "m.gmm"
        GaussianMixture(2, random_state=0).fit(load_iris().data).save(path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_parquet_reads_only_the_chosen_columns(tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    frame = pd.DataFrame({"x": [1.0, 2.0], "y": [3.0, 4.0], "text": ["a", "b"]})
    frame.to_parquet(tmp_path / "d.parquet")
    asked = []
    original = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda p, columns=None: asked.append(columns) or original(p, columns=columns))
    _, X, names = read_table(tmp_path / "d.parquet", ["y"])
    assert asked == [["y"]] and names == ["y"]


def test_unknown_data_suffix_is_refused(tmp_path):
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(ValueError, match="unknown file type '.xlsx'"):
        read_table(tmp_path / "d.xlsx")


def test_hyper_parameters_of_a_value_per_row_are_arrays_of_the_file(tmp_path):
    """resp_init (n x K) once went into the file's JSON, past the size a reader accepts."""
    from gaussmix.estimators.files import OPTIONAL_ARRAYS
    from gaussmix.io.models import ARRAYS, read_model, write_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, 2))
    resp = rng.dirichlet(np.ones(3), size=len(X))
    gm = GaussianMixture(3, resp_init=resp, max_iter=2).fit(X)
    path = tmp_path / "m.gmm"
    gm.save(path)
    back = GaussianMixture.load(path)
    np.testing.assert_array_equal(back.resp_init, resp)
    np.testing.assert_array_equal(back.means_, gm.means_)
    meta, arrays = read_model(path, ARRAYS, optional=OPTIONAL_ARRAYS)
    meta["params"]["resp_init"]["dtype"] = "<U3"
    write_model(path, {k: v for k, v in meta.items() if not k.startswith(("format", "gaussmix"))}, arrays)
    with pytest.raises(ModelFileError, match="not numeric"):
        GaussianMixture.load(path)
    meta["params"]["resp_init"] = {"array": "param_weights_init", "dtype": "<f8"}
    write_model(path, {k: v for k, v in meta.items() if not k.startswith(("format", "gaussmix"))}, arrays)
    with pytest.raises(ModelFileError, match="missing"):
        GaussianMixture.load(path)
