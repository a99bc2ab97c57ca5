"""The mesh renderer: exact silhouettes and shades of boxes, z-buffer visibility,
periodicity, determinism.

Expected images are computed from the camera geometry independently of the renderer: with
supersample=1 a pixel is covered exactly when its centre (j + 0.5, i + 0.5) lies inside the
projected shape. Test shapes are chosen so that no pixel centre lies within 0.05 pixel of a
silhouette edge, so round-off can never flip a pixel.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from metareg.data import render as R


def box(a: float, b: float, c: float) -> tuple[np.ndarray, np.ndarray]:
    """An axis-aligned box [-a, a] x [-b, b] x [-c, c]: vertices [8, 3], faces [12, 3] (0-based)."""
    v = np.array([[x, y, z] for x in (-a, a) for y in (-b, b) for z in (-c, c)], np.float64)
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    faces = np.array([t for q in quads for t in ((q[0], q[1], q[2]), (q[0], q[2], q[3]))], np.int64)
    return v, faces


def rect_mask(
    size: int, half_w: float, half_h: float, cx: float | None = None, cy: float | None = None
) -> np.ndarray:
    """bool [size, size]: pixel centres within |x - cx| <= half_w and |y - cy| <= half_h
    (default: image centre)."""
    cx = size / 2 if cx is None else cx
    cy = size / 2 if cy is None else cy
    c = np.arange(size) + 0.5
    for d, h in ((np.abs(c - cx), half_w), (np.abs(c - cy), half_h)):
        assert np.min(np.abs(d - h)) > 0.05, "test shape too close to a pixel centre"
    return (np.abs(c - cy)[:, None] <= half_h) & (np.abs(c - cx)[None, :] <= half_w)


ORTHO_LEVEL = R.Camera(elevation=0.0, projection="orthographic")
SIZE = 64


@pytest.mark.parametrize("azimuth_deg, extent", [(0, "a"), (90, "b"), (180, "a"), (270, "b")])
def test_box_silhouette_orthographic_level(azimuth_deg, extent):
    # Box half-extents (a, b, c) = (1, 0.5, 0.3): seen level, the width is the x-extent at 0/180
    # degrees and the y-extent at 90/270 (the box turned about the vertical axis); the height is
    # always c.
    a, b, c = 1.0, 0.5, 0.3
    v, f = box(a, b, c)
    r = math.sqrt(a * a + b * b + c * c)  # normalization: farthest vertex at distance 1
    k = ORTHO_LEVEL.fill * SIZE / 2
    half_w = k * (a if extent == "a" else b) / r
    img = R.render_mesh(v, f, math.radians(azimuth_deg), SIZE, ORTHO_LEVEL, supersample=1)
    np.testing.assert_array_equal(img > 0, rect_mask(SIZE, half_w, k * c / r))


def test_cube_silhouette_at_45_degrees_is_wider_by_sqrt2():
    v, f = box(1.0, 1.0, 1.0)
    k = ORTHO_LEVEL.fill * SIZE / 2
    half = k / math.sqrt(3)  # the normalized cube's half side
    straight = R.render_mesh(v, f, 0.0, SIZE, ORTHO_LEVEL, supersample=1)
    turned = R.render_mesh(v, f, math.pi / 4, SIZE, ORTHO_LEVEL, supersample=1)
    np.testing.assert_array_equal(straight > 0, rect_mask(SIZE, half, half))
    np.testing.assert_array_equal(
        turned > 0, rect_mask(SIZE, half * math.sqrt(2), half)
    )  # a corner points at the camera


def test_cube_perspective_face_on_shows_only_the_near_face():
    # Perspective, level, face on: the silhouette is the near face (the far face, smaller, is hidden
    # behind it), half side f * h / (d - h) with h the normalized half side, d the camera distance,
    # f the focal length.
    size, cam = 60, R.Camera(elevation=0.0, projection="perspective")
    v, f = box(1.0, 1.0, 1.0)
    h = 1 / math.sqrt(3)
    half = cam.pixels_per_unit(size) * h / (cam.distance - h)
    assert cam.pixels_per_unit(size) == pytest.approx(
        cam.fill * size / 2 / math.tan(math.asin(1 / cam.distance))
    )
    img = R.render_mesh(v, f, 0.0, size, cam, supersample=1)
    mask = rect_mask(size, half, half)
    np.testing.assert_array_equal(img > 0, mask)
    # Every covered pixel shows the near face, lit by the headlight head on
    # and not at all from above.
    np.testing.assert_allclose(img[mask], R.AMBIENT + R.HEADLIGHT, atol=1e-12)
    assert np.all(img[~mask] == R.BACKGROUND)


def test_shading_of_a_cube_from_45_degrees_up():
    # Orthographic at elevation 45: the top face's near edge projects onto the centre row, so rows
    # above it show the top face (lit from above and by the headlight at 45 degrees) and rows below
    # it the front face (headlight only).
    v, f = box(1.0, 1.0, 1.0)
    cam = R.Camera(elevation=45.0, projection="orthographic")
    img = R.render_mesh(v, f, 0.0, SIZE, cam, supersample=1)
    col = img[:, SIZE // 2]
    top, front = col[: SIZE // 2], col[SIZE // 2 :]
    s = math.sin(math.radians(45))
    np.testing.assert_allclose(top[top > 0], R.AMBIENT + R.HEADLIGHT * s + R.TOPLIGHT, atol=1e-12)
    np.testing.assert_allclose(front[front > 0], R.AMBIENT + R.HEADLIGHT * s, atol=1e-12)
    # Extents: top face spans k*h*(sin45 + cos45) above the centre... down to the centre; the
    # front face k*h*cos45 below.
    k, h = cam.fill * SIZE / 2, 1 / math.sqrt(3)
    c = np.arange(SIZE) + 0.5 - SIZE / 2
    np.testing.assert_array_equal(top > 0, (c[: SIZE // 2] >= -k * h * 2 * s))
    np.testing.assert_array_equal(front > 0, (c[SIZE // 2 :] <= k * h * 2 * s))


def test_top_down_view_is_fully_lit():
    cam = R.Camera(elevation=90.0, projection="orthographic")
    v, f = box(1.0, 1.0, 1.0)
    img = R.render_mesh(v, f, 0.3, SIZE, cam, supersample=1)
    assert img.max() == pytest.approx(1.0) and np.all((img == 0) | (np.abs(img - 1.0) < 1e-12))


def _arrow():
    """A flat triangular prism pointing along +x; its bounding box is centred on the origin."""
    tri = np.array([[1.0, 0.0], [-1.0, 1.0], [-1.0, -1.0]])
    v = np.concatenate([np.c_[tri, np.full(3, -0.2)], np.c_[tri, np.full(3, 0.2)]])
    f = np.array(
        [[0, 1, 2], [3, 5, 4], [0, 3, 4], [0, 4, 1], [1, 4, 5], [1, 5, 2], [2, 5, 3], [2, 3, 0]]
    )
    return v, f


def test_azimuth_turns_counter_clockwise_seen_from_above():
    # Top-down, image right = world +x and image up = world +y. The arrow's centroid (-1/3, 0) is
    # left of centre at azimuth 0; turned counter-clockwise by 90 degrees it sits at (0, -1/3):
    # below the centre.
    cam = R.Camera(elevation=90.0, projection="orthographic")
    v, f = _arrow()
    rows, cols = np.mgrid[:SIZE, :SIZE] + 0.5
    for az, (dx, dy) in ((0.0, (-1, 0)), (math.pi / 2, (0, 1)), (math.pi, (1, 0))):
        mask = R.render_mesh(v, f, az, SIZE, cam, supersample=1) > 0
        centroid = np.array([cols[mask].mean(), rows[mask].mean()]) - SIZE / 2
        expected = (
            np.array([dx, dy]) * cam.fill * SIZE / 2 / math.sqrt(2 + 0.2**2) / 3
        )  # farthest vertex (-1, +-1, +-0.2)
        np.testing.assert_allclose(centroid, expected, atol=0.5)


def test_z_buffer_nearest_wins_in_any_order():
    # Two overlapping triangles: the near one (value 0.3) covers the far one (0.8) where they
    # overlap, whichever is drawn first.
    near_tri = np.array([[[2.0, 2.0], [14.0, 2.0], [2.0, 14.0]]])
    far_tri = np.array([[[4.0, 4.0], [15.0, 4.0], [4.0, 15.0]]])
    xy = np.concatenate([near_tri, far_tri])
    nearness = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0]])
    values = np.array([0.3, 0.8])
    a = R.rasterize(xy, nearness, values, 16)
    b = R.rasterize(xy[::-1], nearness[::-1], values[::-1], 16)
    np.testing.assert_array_equal(a, b)
    only_near = R.rasterize(xy[:1], nearness[:1], values[:1], 16)
    only_far = R.rasterize(xy[1:], nearness[1:], values[1:], 16)
    both = (only_near > 0) & (only_far > 0)
    assert both.sum() > 20
    assert np.all(a[both] == 0.3) and np.all(a[(only_far > 0) & ~both] == 0.8)


def test_z_buffer_is_per_pixel_not_per_face():
    # Two full-frame squares that cross: A gets nearer to the right, B to the left. Painter's
    # sorting by face depth would show one square everywhere; a z-buffer shows B on the left half
    # and A on the right.
    s = 16.0
    square = np.array([[[0, 0], [s, 0], [s, s]], [[0, 0], [s, s], [0, s]]], np.float64)
    xy = np.concatenate([square, square])
    near_a = square[..., 0] / s  # affine in x
    near_b = 1 - square[..., 0] / s
    img = R.rasterize(xy, np.concatenate([near_a, near_b]), np.array([1.0, 1.0, 0.5, 0.5]), 16)
    assert np.all(img[:, :8] == 0.5) and np.all(img[:, 8:] == 1.0)


def test_degenerate_slivers_draw_nothing():
    # Collinear (or nearly: width 1e-12 of the length) triangles with any nearness
    # leave the image as it was.
    base_xy = np.array([[[1.0, 1.0], [15.0, 1.0], [1.0, 15.0]]])
    base = R.rasterize(base_xy, np.ones((1, 3)), np.array([0.5]), 16)
    slivers = np.array(
        [[[0.0, 8.0], [16.0, 8.0], [8.0, 8.0]], [[0.0, 0.0], [16.0, 16.0], [8.0, 8.0 + 1e-11]]]
    )
    xy = np.concatenate([base_xy, slivers])
    img = R.rasterize(
        xy, np.array([[1.0] * 3, [9.0] * 3, [9.0] * 3]), np.array([0.5, 1.0, 1.0]), 16
    )
    np.testing.assert_array_equal(img, base)


def test_mesh_with_crossing_faces_is_z_buffered():
    # The same at mesh level: two rectangles crossing in an X seen from above (orthographic,
    # top-down, one tilted each way about the y axis). Each shows where it is the higher one, with
    # its own shading.
    cam = R.Camera(elevation=90.0, projection="orthographic")
    quad = lambda tilt: np.array(
        [[-1, -0.5, -tilt], [1, -0.5, tilt], [1, 0.5, tilt], [-1, 0.5, -tilt]], np.float64
    )
    v = np.concatenate([quad(0.5), quad(-0.2)])
    f = np.array([[0, 1, 2], [0, 2, 3], [4, 5, 6], [4, 6, 7]])
    img = R.render_mesh(v, f, 0.0, SIZE, cam, supersample=1)
    row = img[SIZE // 2]
    left, right = row[SIZE // 2 - 10 : SIZE // 2 - 2], row[SIZE // 2 + 2 : SIZE // 2 + 10]
    assert len(set(left)) == 1 and len(set(right)) == 1 and left[0] != right[0]
    # The steeper quad (tilt 0.5) is higher on the right: its normal leans further from
    # vertical, so it is darker.
    assert right[0] < left[0]


def test_face_order_and_winding_do_not_matter():
    v, f = _arrow()
    rng = np.random.default_rng(0)
    base = R.render_mesh(v, f, 0.7, 48)
    np.testing.assert_array_equal(base, R.render_mesh(v, f[rng.permutation(len(f))], 0.7, 48))
    # Flipped winding: two-sided lighting gives the same shades (up to the last bit of the normals).
    np.testing.assert_allclose(base, R.render_mesh(v, f[:, ::-1], 0.7, 48), atol=1e-12)


def _blob(seed=0, n=200):
    """A random closed-ish mesh: a noisy icosphere-like point set triangulated by its convex
    hull order (no symmetry)."""
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = u * (1 + 0.3 * rng.random((n, 1))) * np.array([1.5, 1.0, 0.7])
    f = rng.integers(0, n, size=(3 * n, 3))
    return v, f[(f[:, 0] != f[:, 1]) & (f[:, 1] != f[:, 2]) & (f[:, 0] != f[:, 2])]


def test_a_full_turn_gives_the_same_image():
    v, f = _blob()
    for az in (0.0, 0.7, 4.0):
        a = R.render_views(v, f, np.array([az]), 64)
        b = R.render_views(v, f, np.array([az + 2 * math.pi]), 64)
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        R.render_views(v, f, np.array([0.7]), 64), R.render_views(v, f, np.array([0.8]), 64)
    )


def test_deterministic_and_invariant_to_position_and_scale():
    v, f = _blob(1)
    a = R.render_views(v, f, np.array([0.3, 2.0]), 32)
    np.testing.assert_array_equal(a, R.render_views(v, f, np.array([0.3, 2.0]), 32))
    np.testing.assert_array_equal(
        a, R.render_views(3.0 * v + np.array([5.0, -2.0, 1.0]), f, np.array([0.3, 2.0]), 32)
    )
    assert a.dtype == np.uint8 and a.shape == (2, 32, 32)


def test_normalize_mesh_centres_and_scales():
    v, _ = _blob(2)
    n = R.normalize_mesh(5 * v + 3)
    np.testing.assert_allclose((n.min(0) + n.max(0)) / 2, 0, atol=1e-12)
    assert np.linalg.norm(n, axis=1).max() == pytest.approx(1.0)


def test_object_stays_inside_the_frame_at_any_azimuth():
    # The bounding sphere's outline is a circle of radius fill * size / 2 around the centre:
    # nothing is drawn outside.
    v, f = _blob(3)
    size = 32
    imgs = R.render_views(
        v, f, np.linspace(0, 2 * math.pi, 12, endpoint=False), size, supersample=1
    )
    rows, cols = np.mgrid[:size, :size] + 0.5
    outside = np.hypot(rows - size / 2, cols - size / 2) > R.DEFAULT_CAMERA.fill * size / 2
    assert imgs[:, outside].max() == 0 and all(im.max() > 0 for im in imgs)
    assert imgs[:, 0].max() == 0 and imgs[:, :, 0].max() == 0  # in particular the border


def test_supersampling_is_a_box_average():
    v, f = _blob(4)
    fine = R.render_mesh(v, f, 1.1, 64, supersample=1)
    coarse = R.render_mesh(v, f, 1.1, 16, supersample=4)
    np.testing.assert_allclose(coarse, fine.reshape(16, 4, 16, 4).mean(axis=(1, 3)), atol=1e-12)
    assert (
        R.default_supersample(128) == 2
        and R.default_supersample(32) == 8
        and R.default_supersample(512) == 1
    )


def test_large_faces_across_chunks(monkeypatch):
    # Rasterizing in several chunks gives the same image as in one.
    v, f = _blob(5)
    whole = R.render_mesh(v, f, 0.4, 64, supersample=1)
    monkeypatch.setattr(R, "MAX_PAIRS", 7)
    np.testing.assert_array_equal(whole, R.render_mesh(v, f, 0.4, 64, supersample=1))


def test_bad_inputs_are_rejected():
    v, f = box(1, 1, 1)
    with pytest.raises(ValueError, match="faces index vertices 0..8, but there are 8"):
        R.render_mesh(v, np.vstack([f, [[0, 1, 8]]]), 0.0, 16)
    with pytest.raises(ValueError, match=r"vertices must be \[V, 3\]"):
        R.render_mesh(v[:, :2], f, 0.0, 16)
    with pytest.raises(ValueError, match="integer array"):
        R.render_mesh(v, f.astype(float), 0.0, 16)
    with pytest.raises(ValueError, match="all vertices coincide"):
        R.render_mesh(np.zeros((3, 3)), np.array([[0, 1, 2]]), 0.0, 16)
    with pytest.raises(ValueError, match="distance 1.0 must exceed 1"):
        R.Camera(distance=1.0)
    with pytest.raises(ValueError, match="unknown projection 'fisheye'"):
        R.Camera(projection="fisheye")
