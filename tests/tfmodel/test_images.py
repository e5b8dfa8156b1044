"""The image-folder listing: labels, per-file splits that stay put, and bad files."""

import json

import numpy as np
import pytest
from photos import write_photo_folder
from PIL import Image

from tfmodel.config import DataConfig
from tfmodel.data import StreamedSplits, load_splits, reading
from tfmodel.data.images import assign_split, list_image_folder
from tfmodel.data.records import NAMES_SHOWN, describe_not_images, write_split_record
from tfmodel.errors import UserError


def folder_config(root, **overrides) -> DataConfig:
    return DataConfig(source=f"images:{root}", image_size=[16, 12], **overrides)


def test_mixed_formats_sizes_and_modes_are_listed_under_sorted_class_names(tmp_path):
    written = write_photo_folder(tmp_path, per_class=10)
    splits = load_splits(folder_config(tmp_path, channels=1), seed=0)
    assert isinstance(splits, StreamedSplits)
    assert splits.class_names == ["bright", "dark"] and splits.input_shape == (16, 12, 1)
    total = len(splits.y_train) + len(splits.y_val) + len(splits.y_test)
    assert total == len(written) == 20
    # Every file keeps the label of its folder.
    for part in (splits.train, splits.val, splits.test):
        for path, label in zip(part.paths, part.labels, strict=True):
            assert splits.class_names[label] in path
    test_images = reading.first_images(splits, "test", len(splits.y_test))
    assert test_images.shape == (len(splits.y_test), 16, 12, 1)


def test_adding_photos_leaves_every_earlier_file_in_its_split(tmp_path):
    write_photo_folder(tmp_path, per_class=30)
    before = split_of_each_file(tmp_path, seed=3)
    write_photo_folder(tmp_path, per_class=30, seed=1, start=30)
    after = split_of_each_file(tmp_path, seed=3)
    assert len(after) == 2 * len(before)
    assert all(after[path] == split for path, split in before.items())
    assert {"train", "validation", "test"} <= set(before.values())


def test_the_test_split_does_not_move_with_the_seed_but_validation_does(tmp_path):
    write_photo_folder(tmp_path, per_class=30)
    one, other = split_of_each_file(tmp_path, seed=0), split_of_each_file(tmp_path, seed=1)
    assert files_in(one, "test") == files_in(other, "test")
    assert files_in(one, "validation") != files_in(other, "validation")


def files_in(splits: dict[str, str], name: str) -> set[str]:
    return {path for path, split in splits.items() if split == name}


def split_of_each_file(root, seed: int) -> dict[str, str]:
    splits = load_splits(folder_config(root, test_split=0.2, validation_split=0.2), seed=seed)
    parts = {"train": splits.train, "validation": splits.val, "test": splits.test}
    return {path: name for name, part in parts.items() for path in part.paths}


def test_assign_split_hashes_the_relative_path_only():
    assert assign_split("cat/a.jpg", 0.5, 0.0, seed=0) == assign_split("cat/a.jpg", 0.5, 0.0, 9)
    fractions = [assign_split(f"c/{i}.jpg", 0.25, 0.0, 0) == "test" for i in range(4000)]
    assert abs(np.mean(fractions) - 0.25) < 0.03


BAD_FILES = {
    "empty.jpg": b"",
    "broken.jpg": b"\xff\xd8\xff\xe0 this is not really a jpeg",
    "notes.png": b"a text file named as an image",
}
# What a folder copied from a Mac or Windows, or annotated by hand, holds beside its photos.
NOT_IMAGES = {
    ".DS_Store": b"\x00\x00\x00\x01Bud1",
    "Thumbs.db": b"\xd0\xcf\x11\xe0",
    "desktop.ini": b"[.ShellClassInfo]",
    "notes.txt": b"shot on the balcony",
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_a_bad_file_stops_the_listing_naming_the_file_and_the_fix(tmp_path, name):
    write_photo_folder(tmp_path, per_class=3)
    (tmp_path / "dark" / name).write_bytes(BAD_FILES[name])
    with pytest.raises(UserError, match=rf"dark/{name} .*data\.on_bad_file=skip") as caught:
        list_image_folder(str(tmp_path))
    assert "\n" not in str(caught.value)


def test_a_tiff_and_an_empty_class_folder_are_bad_files_too(tmp_path):
    write_photo_folder(tmp_path, per_class=3)
    Image.new("RGB", (8, 8)).save(tmp_path / "dark" / "scan.jpg", "TIFF")
    with pytest.raises(UserError, match=r"scan\.jpg is a TIFF file"):
        list_image_folder(str(tmp_path))
    (tmp_path / "dark" / "scan.jpg").unlink()
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(UserError, match=r"empty_class class folder holds no images"):
        list_image_folder(str(tmp_path))


def test_files_not_images_by_name_are_left_out_under_the_default_and_recorded(tmp_path):
    good = write_photo_folder(tmp_path, per_class=5)
    for name, data in NOT_IMAGES.items():
        (tmp_path / "dark" / name).write_bytes(data)
    (tmp_path / "bright" / "raw").mkdir()
    (tmp_path / "bright" / "raw" / "img_0000.CR2").write_bytes(b"II*\0")
    splits = load_splits(folder_config(tmp_path), seed=0)
    listed = [*splits.train.paths, *splits.val.paths, *splits.test.paths]
    assert sorted(listed) == sorted(str(p) for p in good)
    left_out = ["bright/raw/img_0000.CR2", *(f"dark/{name}" for name in sorted(NOT_IMAGES))]
    assert splits.listing.not_images == left_out and splits.listing.skipped == []
    write_split_record(splits, tmp_path / "split.csv", tmp_path / "split.json")
    assert json.loads((tmp_path / "split.json").read_text())["not_images"] == left_out
    notice = describe_not_images(splits.listing)
    assert notice.startswith(f"left out {len(left_out)} file(s) that are not images by name")
    assert all(name in notice for name in left_out[:NAMES_SHOWN]) and "\n" not in notice
    # A file that claims to be an image by its name is still a bad file under the default.
    (tmp_path / "dark" / "broken.jpg").write_bytes(BAD_FILES["broken.jpg"])
    with pytest.raises(UserError, match=r"dark/broken\.jpg cannot be decoded"):
        load_splits(folder_config(tmp_path), seed=0)


def test_the_notice_names_a_few_of_many_files_and_is_none_without_any(tmp_path):
    write_photo_folder(tmp_path / "photos", per_class=3)
    for index in range(NAMES_SHOWN + 3):
        (tmp_path / "photos" / "dark" / f"img_{index:04d}.xmp").write_text("<x:xmpmeta/>")
    listing = list_image_folder(str(tmp_path / "photos"))
    notice = describe_not_images(listing)
    assert f"left out {NAMES_SHOWN + 3} file(s)" in notice and notice.endswith(", …")
    assert notice.count(".xmp") == NAMES_SHOWN
    assert len(listing.not_images) == NAMES_SHOWN + 3
    write_photo_folder(tmp_path / "clean", per_class=3)
    assert describe_not_images(list_image_folder(str(tmp_path / "clean"))) is None


def test_skip_leaves_bad_files_out_and_the_record_lists_them(tmp_path):
    good = write_photo_folder(tmp_path, per_class=5)
    for name, data in BAD_FILES.items():
        (tmp_path / "bright" / name).write_bytes(data)
    (tmp_path / "nothing_here").mkdir()
    splits = load_splits(folder_config(tmp_path, on_bad_file="skip"), seed=0)
    assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == len(good)
    assert splits.class_names == ["bright", "dark"]
    write_split_record(splits, tmp_path / "split.csv", tmp_path / "split.json")
    record = json.loads((tmp_path / "split.json").read_text())
    skipped = {item["path"] for item in record["skipped"]}
    assert skipped == {f"bright/{name}" for name in BAD_FILES} | {"nothing_here/"}
    assert sum(sum(c.values()) for c in record["counts"].values()) == len(good)
    listed = (tmp_path / "split.csv").read_text().splitlines()[1:]
    assert sorted(line.split(",")[0] for line in listed) == sorted(
        p.relative_to(tmp_path).as_posix() for p in good
    )
