"""A small NumPy mesh renderer: a triangle mesh, turned about the vertical axis, as a grey image.

It renders the pose-regression tasks (metareg.data.pascal3d) after "Meta-learning without
memorization" (Yin et al. 2020, pose_data/mujoco_render.py), which rendered each CAD model in MuJoCo
at random rotations about the vertical axis (z up). Pure functions: the same mesh and azimuth always
give the same bytes. The scene: the mesh is centred and scaled to a unit bounding sphere (so it
keeps its size as it turns), rotated counter-clockwise about +z by the azimuth and seen from 45
degrees above by a perspective `Camera`, with flat two-sided Lambert shading at MuJoCo's default
light amounts, a z-buffer, and box-filter supersampling (`supersample`).

Departures from the reference's scene: the object is centred and there is no table; the background
is black (so a conv net's zero padding matches it); images are box-averaged from a render of at
least 256 x 256 rather than resized from about 500 x 500 with LANCZOS.

Pixel (row i, column j) has its centre at x = j + 0.5, y = i + 0.5 (x right, y down) and is
covered by a triangle when that centre is inside it or on its edge.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

# Shading amounts (MuJoCo defaults: headlight ambient 0.1 / diffuse 0.4; the reference's scene light
# diffuse 0.5).
AMBIENT = 0.1
HEADLIGHT = 0.4
TOPLIGHT = 0.5
BACKGROUND = 0.0
MIN_INTERNAL_SIZE = 256  # default supersampling renders at least this many pixels across
MAX_PAIRS = 1 << 21  # (triangle, pixel) candidates per rasterizer chunk: bounds memory at ~150 MB
PROJECTIONS = ("perspective", "orthographic")
# Barycentric slack, so a pixel centre on an edge shared by two triangles is never lost to round-off
_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class Camera:
    """Where the camera is, in units of the normalized object (bounding radius 1).

    elevation: degrees above the horizontal plane (45: looking down at 45 degrees; 0: level).
    distance: camera to object centre (perspective only; > 1 keeps the camera outside the object).
    fill: the bounding sphere's outline spans this fraction of the half-frame (< 1: the object
    never leaves the image).
    projection: "perspective" or "orthographic".
    """

    elevation: float = 45.0
    distance: float = 3.0
    fill: float = 0.95
    projection: str = "perspective"

    def __post_init__(self):
        if self.projection not in PROJECTIONS:
            raise ValueError(
                f"unknown projection {self.projection!r}; choose from {list(PROJECTIONS)}"
            )
        if not self.distance > 1.0:
            raise ValueError(
                f"camera distance {self.distance} must exceed 1 (the normalized object's bounding "
                "radius)"
            )
        if not 0.0 < self.fill <= 1.0:
            raise ValueError(f"fill {self.fill} must be in (0, 1]")

    def axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(right, up, forward) world-frame unit vectors; forward points from camera to object."""
        e = math.radians(self.elevation)
        right = np.array([1.0, 0.0, 0.0])
        up = np.array([0.0, math.sin(e), math.cos(e)])
        forward = np.array([0.0, math.cos(e), -math.sin(e)])
        return right, up, forward

    def pixels_per_unit(self, size: int) -> float:
        """Orthographic: pixels per world unit. Perspective: the focal length in pixels."""
        half = self.fill * size / 2.0
        if self.projection == "orthographic":
            return half
        # The sphere of radius 1 at distance d is seen under the half-angle asin(1/d); its outline
        # lands at `half`.
        return half / math.tan(math.asin(1.0 / self.distance))


DEFAULT_CAMERA = Camera()


def normalize_mesh(vertices: np.ndarray) -> np.ndarray:
    """float64 [V, 3]: centred on the bounding-box centre, farthest vertex at distance 1."""
    v = np.asarray(vertices, np.float64)
    if v.ndim != 2 or v.shape[1] != 3 or len(v) == 0:
        raise ValueError(f"vertices must be [V, 3] with V >= 1, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("vertices contain NaN or infinite coordinates")
    v = v - (v.min(0) + v.max(0)) / 2.0
    radius = np.sqrt((v**2).sum(1)).max()
    if radius == 0:
        raise ValueError("all vertices coincide: nothing to render")
    return v / radius


def rotation_z(azimuth: float) -> np.ndarray:
    """[3, 3]: counter-clockwise rotation by `azimuth` radians about +z (seen from above)."""
    c, s = math.cos(azimuth), math.sin(azimuth)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _check_faces(faces: np.ndarray, num_vertices: int) -> np.ndarray:
    f = np.asarray(faces)
    if f.ndim != 2 or f.shape[1] != 3 or not np.issubdtype(f.dtype, np.integer):
        raise ValueError(
            f"faces must be an integer array [F, 3] of 0-based vertex indices, got {f.dtype} "
            f"{f.shape}"
        )
    if len(f) and (f.min() < 0 or f.max() >= num_vertices):
        raise ValueError(
            f"faces index vertices {f.min()}..{f.max()}, but there are {num_vertices} (0-based)"
        )
    return f.astype(np.int64)


def face_intensity(tri_cam: np.ndarray, camera: Camera) -> np.ndarray:
    """float64 [F] in [AMBIENT, 1]: flat two-sided Lambert shading of camera-frame triangles.

    tri_cam: [F, 3, 3], coordinates along (right, up, forward) with the object's centre at the
    origin.
    """
    right, up, forward = camera.axes()
    n = np.cross(tri_cam[:, 1] - tri_cam[:, 0], tri_cam[:, 2] - tri_cam[:, 0])
    norm = np.sqrt((n**2).sum(1, keepdims=True))
    n = n / np.where(norm > 0, norm, 1.0)
    # From each face towards the eye (a point for perspective, a direction for orthographic).
    if camera.projection == "perspective":
        to_eye = np.array([0.0, 0.0, -camera.distance]) - tri_cam.mean(1)
    else:
        to_eye = np.broadcast_to(np.array([0.0, 0.0, -1.0]), n.shape)
    n = np.where(
        (n * to_eye).sum(1, keepdims=True) < 0, -n, n
    )  # two-sided: the visible side faces the eye
    # World directions in camera coordinates: the headlight shines along the view axis, the top
    # light from +z.
    headlight = np.array([0.0, 0.0, -1.0])
    world_up = np.array([0.0, 0.0, 1.0])
    top = np.array([world_up @ right, world_up @ up, world_up @ forward])
    diffuse = HEADLIGHT * np.maximum(n @ headlight, 0.0) + TOPLIGHT * np.maximum(n @ top, 0.0)
    return np.clip(AMBIENT + diffuse, 0.0, 1.0)


def project(
    vertices: np.ndarray, azimuth: float, size: int, camera: Camera = DEFAULT_CAMERA
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Normalized vertices [V, 3] at `azimuth` -> (camera coords [V, 3], pixel xy [V, 2], nearness).

    Pixel xy: x right, y down, image centre at (size/2, size/2). Nearness [V] is larger for nearer
    points and affine in screen space over a triangle (perspective: 1/depth; orthographic: -depth),
    so it is what the z-buffer interpolates and compares.
    """
    right, up, forward = camera.axes()
    world = vertices @ rotation_z(azimuth).T
    cam = world @ np.stack([right, up, forward], axis=1)  # columns: right, up, forward coordinates
    k = camera.pixels_per_unit(size)
    if camera.projection == "perspective":
        depth = cam[:, 2] + camera.distance  # >= distance - 1 > 0 for a normalized object
        xy = np.stack([size / 2 + k * cam[:, 0] / depth, size / 2 - k * cam[:, 1] / depth], axis=1)
        nearness = 1.0 / depth
    else:
        xy = np.stack([size / 2 + k * cam[:, 0], size / 2 - k * cam[:, 1]], axis=1)
        nearness = -cam[:, 2]
    return cam, xy, nearness


def rasterize(
    tri_xy: np.ndarray,
    tri_near: np.ndarray,
    values: np.ndarray,
    size: int,
    background: float = BACKGROUND,
) -> np.ndarray:
    """z-buffered triangle fill: float64 [size, size].

    tri_xy: [F, 3, 2] pixel coordinates (x right, y down); tri_near: [F, 3] nearness at the corners
    (larger is nearer, interpolated affinely in screen space); values: [F] the colour of each
    triangle. At each pixel centre covered by at least one triangle, the nearest one's value is
    drawn; elsewhere `background`. Order-independent.

    Scanline form, vectorized: for every (triangle, pixel row) pair the covered columns are an
    interval (the intersection of the three edge half-planes with the row's centre line), so only
    covered pixels are ever generated; a per-pixel `maximum.at` z-buffer then keeps the nearest.
    """
    tri_xy = np.asarray(tri_xy, np.float64)
    tri_near = np.asarray(tri_near, np.float64)
    values = np.asarray(values, np.float64)
    image = np.full(size * size, background, np.float64)
    zbuf = np.full(size * size, -np.inf)
    x, y = tri_xy[..., 0], tri_xy[..., 1]
    area2 = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    # Pixel columns j whose centre j + 0.5 lies within the triangle's x-range (rows likewise),
    # clipped to the image.
    x0 = np.clip(np.ceil(x.min(1) - 0.5), 0, size).astype(np.int64)
    x1 = np.clip(np.floor(x.max(1) - 0.5), -1, size - 1).astype(np.int64)
    y0 = np.clip(np.ceil(y.min(1) - 0.5), 0, size).astype(np.int64)
    y1 = np.clip(np.floor(y.max(1) - 0.5), -1, size - 1).astype(np.int64)
    edge2 = np.max(
        [(x[:, i] - x[:, i - 1]) ** 2 + (y[:, i] - y[:, i - 1]) ** 2 for i in range(3)], axis=0
    )
    # Drawn: triangles with a pixel centre in their box (not off-screen or sub-pixel) and not
    # degenerate. A sliver narrower than 1e-9 of its length covers no pixel centre reliably, and its
    # barycentrics are ill-conditioned: skip it.
    keep = np.flatnonzero((x1 >= x0) & (y1 >= y0) & (np.abs(area2) > 1e-9 * edge2))
    if len(keep) == 0:
        return image.reshape(size, size)
    x, y, a, near = x[keep], y[keep], area2[keep], tri_near[keep]
    # Barycentrics as affine functions of the pixel centre: l_i = A_i x + B_i y + C_i, i = 0, 1, 2
    # (they sum to 1).
    A = np.stack([y[:, 1] - y[:, 2], y[:, 2] - y[:, 0], y[:, 0] - y[:, 1]], axis=1) / a[:, None]
    B = np.stack([x[:, 2] - x[:, 1], x[:, 0] - x[:, 2], x[:, 1] - x[:, 0]], axis=1) / a[:, None]
    C = np.stack(
        [
            x[:, 1] * y[:, 2] - x[:, 2] * y[:, 1],
            x[:, 2] * y[:, 0] - x[:, 0] * y[:, 2],
            x[:, 0] * y[:, 1] - x[:, 1] * y[:, 0],
        ],
        axis=1,
    )
    C = C / a[:, None]
    # Nearness is affine too: n(x, y) = sum_i l_i(x, y) near_i.
    zA, zB, zC = (A * near).sum(1), (B * near).sum(1), (C * near).sum(1)
    zlo, zhi = (
        near.min(1),
        near.max(1),
    )  # round-off can never put a pixel outside its triangle's depth range
    # (triangle, row) pairs over each triangle's row range.
    rows = y1[keep] - y0[keep] + 1
    t = np.repeat(np.arange(len(keep)), rows)
    r = y0[keep][t] + np.arange(int(rows.sum())) - np.repeat(np.cumsum(rows) - rows, rows)
    yc = r + 0.5
    # Columns with l_i >= -eps for all i: each edge bounds x from below (A_i > 0) or above
    # (A_i < 0).
    At = A[t]
    val = B[t] * yc[:, None] + C[t] + _EPS
    bound = -val / np.where(At == 0, 1.0, At)
    lo = np.where(At > 0, bound, -np.inf).max(1)
    hi = np.where(At < 0, bound, np.inf).min(1)
    lo = np.where(
        ((At == 0) & (val < 0)).any(1), np.inf, lo
    )  # an edge parallel to the row, with the row outside
    j0 = np.maximum(np.ceil(lo - 0.5), x0[keep][t])
    j1 = np.minimum(np.floor(hi - 0.5), x1[keep][t])
    n = np.maximum(j1 - j0 + 1, 0).astype(np.int64)
    live = np.flatnonzero(n)
    t, r, j0, n = t[live], r[live], j0[live].astype(np.int64), n[live]
    # Chunks of whole rows, each with at most MAX_PAIRS covered pixels (but at least one row).
    ends = np.cumsum(n)
    start = 0
    while start < len(n):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + MAX_PAIRS, side="right")), start + 1)
        m = n[start:stop]
        k = np.repeat(np.arange(start, stop), m)
        px = j0[k] + np.arange(int(m.sum())) - np.repeat(np.cumsum(m) - m, m)
        py = r[k]
        tk = t[k]
        z = np.clip(zA[tk] * (px + 0.5) + zB[tk] * (py + 0.5) + zC[tk], zlo[tk], zhi[tk])
        flat = py * size + px
        np.maximum.at(zbuf, flat, z)
        won = (
            z >= zbuf[flat]
        )  # the nearest candidate at each pixel, over this chunk and all earlier ones
        image[flat[won]] = values[keep][tk[won]]
        start = stop
    return image.reshape(size, size)


def default_supersample(image_size: int) -> int:
    """Supersampling factor making the internal render at least MIN_INTERNAL_SIZE pixels wide."""
    return max(1, math.ceil(MIN_INTERNAL_SIZE / image_size))


def render_normalized(
    vertices: np.ndarray,
    faces: np.ndarray,
    azimuth: float,
    image_size: int = 128,
    camera: Camera = DEFAULT_CAMERA,
    supersample: int | None = None,
) -> np.ndarray:
    """float64 [image_size, image_size] in [0, 1] of an already normalized mesh (`normalize_mesh`).

    faces: int [F, 3], 0-based. supersample: render at this many times the size and box-average
    (None: `default_supersample(image_size)`; 1: no anti-aliasing, hard silhouettes).
    """
    ss = default_supersample(image_size) if supersample is None else int(supersample)
    if ss < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    size = image_size * ss
    faces = _check_faces(faces, len(vertices))
    cam, xy, near = project(vertices, azimuth, size, camera)
    image = rasterize(xy[faces], near[faces], face_intensity(cam[faces], camera), size)
    return image.reshape(image_size, ss, image_size, ss).mean(axis=(1, 3))


def render_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    azimuth: float,
    image_size: int = 128,
    camera: Camera = DEFAULT_CAMERA,
    supersample: int | None = None,
) -> np.ndarray:
    """float64 [image_size, image_size] in [0, 1]: the mesh (vertices [V, 3], 0-based faces [F, 3])
    turned by `azimuth` radians about the vertical axis, normalized, lit and z-buffered as the
    module docstring says."""
    return render_normalized(
        normalize_mesh(vertices), faces, azimuth, image_size, camera, supersample
    )


def to_uint8(image: np.ndarray) -> np.ndarray:
    """[0, 1] float -> uint8, rounded to nearest."""
    return np.clip(np.rint(np.asarray(image) * 255.0), 0, 255).astype(np.uint8)


def render_views(
    vertices: np.ndarray,
    faces: np.ndarray,
    azimuths: np.ndarray,
    image_size: int = 128,
    camera: Camera = DEFAULT_CAMERA,
    supersample: int | None = None,
) -> np.ndarray:
    """uint8 [N, image_size, image_size]: one render per azimuth (radians [N]), normalizing once."""
    v = normalize_mesh(vertices)
    faces = _check_faces(faces, len(v))
    return np.stack(
        [
            to_uint8(render_normalized(v, faces, float(a), image_size, camera, supersample))
            for a in np.asarray(azimuths)
        ]
    )
