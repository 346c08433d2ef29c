"""Training data: folder dataset (formats, crops, padding, JPEG downscale, errors), paired crop, pair pool."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from mmrealsr_plugin.errors import DatasetError, TrainingConfigError
from mmrealsr_plugin.training.data import HRFolderDataset, PairPool, paired_random_crop


def _save(path, array, **kwargs):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **kwargs)


@pytest.fixture
def folder(tmp_path):
    rng = np.random.default_rng(0)
    _save(tmp_path / "a.png", rng.integers(0, 256, (80, 90, 3), dtype=np.uint8))
    _save(tmp_path / "sub" / "b.jpg", rng.integers(0, 256, (200, 160, 3), dtype=np.uint8), quality=95)
    _save(tmp_path / "sub" / "deeper" / "c.webp", rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    _save(tmp_path / "d.png", (rng.integers(0, 65536, (70, 70)) ).astype(np.uint16))
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_reads_every_format_recursively_and_yields_crops_in_range(folder):
    dataset = HRFolderDataset(folder, 32, crop_pre=64)
    assert len(dataset) == 4
    assert {p.name for p in dataset.files} == {"a.png", "b.jpg", "c.webp", "d.png"}
    for index in range(len(dataset)):
        crop = dataset[index]
        assert crop.shape == (3, 64, 64) and crop.dtype == torch.float32
        assert 0 <= crop.min() and crop.max() <= 1


def test_several_folders_and_batches_drawn_from_one_generator(folder, tmp_path_factory):
    other = tmp_path_factory.mktemp("other")
    _save(other / "e.png", np.zeros((64, 64, 3), dtype=np.uint8))
    dataset = HRFolderDataset([folder, other], 32, crop_pre=48)
    assert len(dataset) == 5
    first = dataset.sample_batch(6, torch.Generator().manual_seed(2))
    assert first.shape == (6, 3, 48, 48)
    assert torch.equal(first, dataset.sample_batch(6, torch.Generator().manual_seed(2)))


def test_same_seed_and_epoch_give_the_same_crop_and_a_new_epoch_another(folder):
    first, second = HRFolderDataset(folder, 32, crop_pre=48), HRFolderDataset(folder, 32, crop_pre=48)
    assert torch.equal(first[1], second[1])
    first.set_epoch(1)
    assert not torch.equal(first[1], second[1])


def test_small_images_are_mirror_padded_not_stretched(tmp_path):
    ramp = np.tile(np.arange(0, 200, 10, dtype=np.uint8), (20, 1))  # 20x20, values 0..190 along x
    _save(tmp_path / "small.png", np.stack([ramp] * 3, axis=-1))
    dataset = HRFolderDataset(tmp_path, 16, crop_pre=32, flips=False, rotations=False)
    crop = dataset[0][0] * 255
    row = crop[0].round().numpy()
    # reflect-101 continuation: ..., 180, 190, 180, 170, ...
    assert row[18] == 180 and row[19] == 190 and row[20] == 180 and row[21] == 170


def test_large_jpegs_are_downscaled_first_when_asked(tmp_path):
    checker = ((np.indices((256, 256)).sum(axis=0) % 2) * 255).astype(np.uint8)
    _save(tmp_path / "photo.jpg", np.stack([checker] * 3, axis=-1), quality=95)
    plain = HRFolderDataset(tmp_path, 32, crop_pre=64, flips=False, rotations=False)
    halved = HRFolderDataset(tmp_path, 32, crop_pre=64, flips=False, rotations=False, jpeg_downscale=2.0)
    # a 1-px checkerboard averages to flat gray under an antialiased 2x downscale
    assert plain[0].std() > 0.3
    assert halved[0].std() < 0.1


def test_multiscale_downscales_with_antialiasing(tmp_path):
    checker = ((np.indices((128, 128)).sum(axis=0) % 2) * 255).astype(np.uint8)
    _save(tmp_path / "c.png", np.stack([checker] * 3, axis=-1))
    dataset = HRFolderDataset(tmp_path, 32, crop_pre=48, multiscale=(0.5,))
    assert dataset[0].std() < 0.1


def test_empty_folder_and_unreadable_file_name_the_culprit(tmp_path):
    with pytest.raises(DatasetError, match=str(tmp_path)):
        HRFolderDataset(tmp_path, 32)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    dataset = HRFolderDataset(tmp_path, 32, crop_pre=32)
    with pytest.raises(DatasetError, match="broken.png"):
        dataset[0]
    with pytest.raises(DatasetError, match="does not exist"):
        HRFolderDataset(tmp_path / "missing", 32)
    with pytest.raises(TrainingConfigError, match="crop_pre"):
        HRFolderDataset(tmp_path, 64, crop_pre=32)


def test_paired_random_crop_cuts_the_same_window_from_all_lqs_and_gts():
    gt = torch.arange(2 * 3 * 64 * 64, dtype=torch.float32).reshape(2, 3, 64, 64)
    lq = torch.nn.functional.avg_pool2d(gt, 4)[None].repeat(5, 1, 1, 1, 1) + torch.arange(5.0).view(5, 1, 1, 1, 1)
    lq_crop, gt_crop, plain_crop = paired_random_crop(lq, [gt, gt.clone()], 32, torch.Generator().manual_seed(0))
    assert lq_crop.shape == (5, 2, 3, 8, 8) and gt_crop.shape == (2, 3, 32, 32)
    torch.testing.assert_close(lq_crop[0], torch.nn.functional.avg_pool2d(gt_crop, 4))
    for i in range(5):
        torch.testing.assert_close(lq_crop[i] - i, lq_crop[0])
    assert torch.equal(gt_crop, plain_crop)
    with pytest.raises(TrainingConfigError, match="multiple of the scale 4"):
        paired_random_crop(lq, [gt], 30, torch.Generator())
    with pytest.raises(ValueError, match="integer multiple"):
        paired_random_crop(lq, [gt[..., :60, :]], 32, torch.Generator())


def _batch(step: int, batch: int = 2) -> dict[str, torch.Tensor]:
    ids = torch.arange(batch, dtype=torch.float32) + 100 * step
    lq = ids.view(1, batch, 1, 1, 1).repeat(5, 1, 3, 4, 4)
    return {"lq": lq, "gt": ids.view(batch, 1, 1, 1).repeat(1, 3, 16, 16)}


def test_pair_pool_fills_then_swaps_and_keeps_pairs_together():
    pool = PairPool(6, 2, seed=1)
    for step in range(3):
        out = pool(_batch(step))
        assert torch.equal(out["gt"], _batch(step)["gt"])  # filling: passthrough
    assert pool.full
    seen = set()
    for step in range(3, 12):
        out = pool(_batch(step))
        assert out["lq"].shape == (5, 2, 3, 4, 4) and out["gt"].shape == (2, 3, 16, 16)
        lq_ids, gt_ids = out["lq"][:, :, 0, 0, 0], out["gt"][:, 0, 0, 0]
        assert torch.equal(lq_ids, gt_ids.expand(5, 2))  # LQ and GT of one sample stay paired
        seen.update(gt_ids.tolist())
    assert min(seen) < 300  # samples queued while filling come back out later
    assert len(seen) > 2 * 3  # a mix, not just the newest batches


def test_pair_pool_resumes_bit_for_bit_and_checks_divisibility():
    pool = PairPool(4, 2, seed=3)
    for step in range(5):
        pool(_batch(step))
    resumed = PairPool(4, 2, seed=99)
    resumed.load_state_dict(pool.state_dict())
    for step in range(5, 10):
        a, b = pool(_batch(step)), resumed(_batch(step))
        assert torch.equal(a["lq"], b["lq"]) and torch.equal(a["gt"], b["gt"])
    with pytest.raises(TrainingConfigError, match="multiple of the batch"):
        PairPool(90, 4)
    with pytest.raises(ValueError, match="size 4 / batch 2"):
        PairPool(6, 2).load_state_dict(pool.state_dict())


def test_parallel_batch_decoding_gives_the_one_by_one_batch(hr_folder: Path) -> None:
    dataset = HRFolderDataset(hr_folder, 32, crop_pre=48, flips=True, rotations=True, multiscale=(1.0, 0.5), seed=0)
    batch = dataset.sample_batch(5, torch.Generator().manual_seed(4))
    generator = torch.Generator().manual_seed(4)
    indices = torch.randint(0, len(dataset), (5,), generator=generator).tolist()
    assert torch.equal(batch, torch.stack([dataset.load_crop(i, generator) for i in indices]))


def test_training_reads_and_lists_through_the_core(tmp_path: Path) -> None:
    """One reader and one lister: EXIF orientation and 16-bit precision as the CLI sees them, the same formats."""
    from PIL import Image

    from mmrealsr_plugin.imageio import list_images, read_image
    from mmrealsr_plugin.training.data import image_files, read_rgb

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(tmp_path / "turned.jpg", exif=exif)
    Image.fromarray((np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)).save(tmp_path / "deep.png")
    (tmp_path / "notes.txt").write_text("not an image")
    pixels, fmt = read_rgb(tmp_path / "turned.jpg")
    assert pixels.shape == (30, 20, 3) and fmt == "JPEG"
    deep, _ = read_rgb(tmp_path / "deep.png")
    np.testing.assert_array_equal(deep, read_image(tmp_path / "deep.png").rgb())
    assert len(np.unique(deep)) > 256, "16-bit levels survive"
    assert image_files(tmp_path) == list_images(tmp_path, recursive=True) == [tmp_path / "deep.png",
                                                                              tmp_path / "turned.jpg"]
