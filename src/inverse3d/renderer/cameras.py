"""Cameras: world -> view -> NDC / screen projections, PyTorch3D conventions.

Conventions (see docs/cameras.md):
- Row vectors. World to view: X_view = X_world @ R + T, R: (N, 3, 3), T: (N, 3).
- View space: +X left, +Y up, +Z into the screen.
- NDC: +X left, +Y up; [-1, 1] on the shorter image side, the longer side extends past 1.
- Screen: pixels, origin at the top-left corner of the top-left pixel, +x right, +y down;
  the centre of pixel (row i, column j) is (j + 0.5, i + 0.5).
- image_size is (H, W) (one pair, or one pair per camera).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import torch

from inverse3d.renderer._camera_math import (
    DEFAULT_R,
    DEFAULT_T,
    check_K,
    check_RT,
    get_ndc_to_screen_transform,
    get_screen_to_ndc_transform,
    get_world_to_view_transform,
    normalise_image_size,
    sfm_calibration_matrix,
    transform_from_column,
    transform_from_matrix,
)
from inverse3d.renderer.look_at import (
    camera_position_from_spherical_angles,
    look_at_rotation,
    look_at_view_transform,
)
from inverse3d.renderer.utils import (
    Device,
    TensorProperties,
    convert_to_tensors_and_broadcast,
)
from inverse3d.transforms.transform3d import Transform3d

__all__ = [
    "CamerasBase",
    "FoVOrthographicCameras",
    "FoVPerspectiveCameras",
    "OpenGLOrthographicCameras",
    "OpenGLPerspectiveCameras",
    "OrthographicCameras",
    "PerspectiveCameras",
    "SfMOrthographicCameras",
    "SfMPerspectiveCameras",
    "camera_position_from_spherical_angles",
    "get_ndc_to_screen_transform",
    "get_screen_to_ndc_transform",
    "get_world_to_view_transform",
    "look_at_rotation",
    "look_at_view_transform",
    "try_get_projection_transform",
]


class CamerasBase(TensorProperties):
    """Base class of the cameras: world-to-view (R, T) then a projection to NDC or screen.

    Subclasses implement `get_projection_transform`, `unproject_points`, `is_perspective` and
    list their constructor fields in `_FIELDS` (those equal across a batch in `_SHARED_FIELDS`).
    Every method taking **kwargs accepts per-call overrides of the camera's fields (R=, T=, ...),
    which do not modify the camera.
    """

    _FIELDS: tuple[str, ...] = ()
    _SHARED_FIELDS: tuple[str, ...] = ()

    def _post_init(self) -> None:
        check_RT(self.R, self.T)
        image_size = getattr(self, "image_size", None)
        if image_size is not None:
            if image_size.dim() != 2 or image_size.shape[-1] != 2:
                raise ValueError(
                    f"image_size must be (H, W) or (N, 2) pairs (H, W); "
                    f"got {tuple(image_size.shape)}"
                )
            if bool((image_size < 1).any()):
                raise ValueError(f"image_size must hold sizes >= 1; got {image_size.tolist()}")

    def _dtype(self) -> torch.dtype:
        """dtype of every transform the camera returns: float32 (PyTorch3D's, whatever the
        dtypes of R, T and the intrinsics) unless the camera was built with dtype=."""
        return getattr(self, "_transform_dtype", torch.float32)

    def _set_dtype(self, dtype: torch.dtype) -> None:
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype; got {dtype!r}")
        self._transform_dtype = dtype

    def _projection(
        self, kwargs: dict[str, Any], compute: Callable[[], torch.Tensor]
    ) -> Transform3d:
        """The projection from the K= override or the camera's K if given, else from compute()."""
        K = kwargs.get("K", self.K)
        K = check_K(K, self._N) if K is not None else compute()
        return transform_from_column(K, self._dtype())

    def _unprojection_base(self, world_coordinates: bool, kwargs: dict[str, Any]) -> Transform3d:
        """The transform unproject_points inverts: world (or view) -> projection space."""
        if world_coordinates:
            return self.get_full_projection_transform(**kwargs)
        return self.get_projection_transform(**kwargs)

    def _depth_coefficients(
        self, xy_depth: torch.Tensor, kwargs: dict[str, Any]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Entries (2, 2) and (3, 2) of the (row-vector) projection matrix, shaped (N, 1, .., 1)
        to broadcast against xy_depth[..., 2:3]: the projected z is a function of them and Z."""
        M = self.get_projection_transform(**kwargs).get_matrix()
        shape = [M.shape[0]] + [1] * (xy_depth.dim() - 1)
        return M[:, 2, 2].reshape(shape), M[:, 3, 2].reshape(shape)

    # ---- abstract -------------------------------------------------------------------------
    def get_projection_transform(self, **kwargs: Any) -> Transform3d:
        """The view -> NDC (or screen, for in_ndc=False cameras) projection."""
        raise NotImplementedError

    def unproject_points(self, xy_depth: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        """Points (..., 3) in world (or view) space from projected xy and a depth."""
        raise NotImplementedError

    def is_perspective(self) -> bool:
        raise NotImplementedError

    # ---- common ---------------------------------------------------------------------------
    def in_ndc(self) -> bool:
        """True if the camera's projection goes to NDC, False if to screen (pixels)."""
        return True

    def get_znear(self) -> torch.Tensor | None:
        return getattr(self, "znear", None)

    def get_image_size(self) -> torch.Tensor | None:
        return getattr(self, "image_size", None)

    def get_camera_center(self, **kwargs: Any) -> torch.Tensor:
        """(N, 3) float camera centres in world space: C = -T @ R^T."""
        R = kwargs.get("R", self.R)
        T = kwargs.get("T", self.T)
        R, T = check_RT(R, T)
        R, T = R.to(self._dtype()), T.to(self._dtype())
        return -torch.bmm(R, T[:, :, None])[:, :, 0]

    def get_world_to_view_transform(self, **kwargs: Any) -> Transform3d:
        """World -> view Transform3d (R=, T= override the camera's)."""
        return get_world_to_view_transform(
            R=kwargs.get("R", self.R), T=kwargs.get("T", self.T), dtype=self._dtype()
        )

    def get_full_projection_transform(self, **kwargs: Any) -> Transform3d:
        """World -> NDC (or screen) Transform3d: world-to-view composed with the projection."""
        w2v = self.get_world_to_view_transform(**kwargs)
        return w2v.compose(self.get_projection_transform(**kwargs))

    def transform_points(
        self, points: torch.Tensor, eps: float | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """Project world points (P, 3) or (N, P, 3) with the full projection.

        eps: if given, the homogeneous divisor is clamped away from 0 by eps (keeping its sign).
        Returns points of the input's shape: projected x, y and a depth coordinate (for
        perspective screen/SfM cameras 1/Z, for FoV cameras depth in [0, 1]).
        """
        full = self.get_full_projection_transform(**kwargs)
        return full.transform_points(points, eps=eps)

    def get_ndc_camera_transform(self, **kwargs: Any) -> Transform3d:
        """Transform from the camera's projection space to NDC (identity for NDC cameras)."""
        if self.in_ndc():
            return Transform3d(device=self.device, dtype=self._dtype())
        image_size = kwargs.get("image_size", self.get_image_size())
        return get_screen_to_ndc_transform(self, with_xyflip=False, image_size=image_size)

    def transform_points_ndc(
        self, points: torch.Tensor, eps: float | None = None, **kwargs: Any
    ) -> torch.Tensor:
        """Project world points (P, 3) or (N, P, 3) to NDC (+X left, +Y up)."""
        full = self.get_full_projection_transform(**kwargs)
        to_ndc = full.compose(self.get_ndc_camera_transform(**kwargs))
        return to_ndc.transform_points(points, eps=eps)

    def transform_points_screen(
        self,
        points: torch.Tensor,
        eps: float | None = None,
        with_xyflip: bool = True,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Project world points (P, 3) or (N, P, 3) to screen space (pixels, origin top-left).

        Needs image_size (camera attribute or keyword). with_xyflip=False returns -x, -y.
        """
        points_ndc = self.transform_points_ndc(points, eps=eps, **kwargs)
        image_size = kwargs.get("image_size", self.get_image_size())
        to_screen = get_ndc_to_screen_transform(
            self, with_xyflip=with_xyflip, image_size=image_size
        )
        return to_screen.transform_points(points_ndc, eps=eps)

    def clone(self) -> CamerasBase:  # type: ignore[override]
        other = self.__class__(device=self.device)
        return super().clone(other)

    def __getitem__(self, index: int | slice | list | torch.Tensor) -> CamerasBase:  # type: ignore[override]
        """A camera of the same class holding the selected batch items.

        index: int, slice, list of ints, (M,) int64 or (N,) bool tensor.
        """
        if isinstance(index, int):
            if not -self._N <= index < self._N:
                raise IndexError(f"index {index} is out of range for {self._N} cameras")
            index = [index]
        elif torch.is_tensor(index):
            if index.dtype == torch.bool:
                if index.shape != (self._N,):
                    raise ValueError(
                        f"index must have shape ({self._N},) when bool; got {tuple(index.shape)}"
                    )
                index = index.nonzero()[:, 0]
            elif index.dtype not in (torch.int64, torch.int32):
                # ValueError (not TypeError) for a bad index type, as PyTorch3D raises
                raise ValueError(f"index tensor must be int64 or bool; got {index.dtype}")
            index = index.to(self.device)
        elif not isinstance(index, (list, slice)):
            raise ValueError(
                "Invalid index type, expected int, List[int] or Bool/LongTensor (or a slice); "
                f"got {type(index).__name__}"
            )
        kwargs: dict[str, Any] = {}
        for field in self._FIELDS:
            value = getattr(self, field, None)
            if value is None:
                continue
            key = "in_ndc" if field == "_in_ndc" else field
            if field in self._SHARED_FIELDS or not torch.is_tensor(value):
                kwargs[key] = value
            elif value.shape[0] == self._N:
                kwargs[key] = value[index]
            else:
                kwargs[key] = value
        return self.__class__(device=self.device, dtype=self._dtype(), **kwargs)


class FoVPerspectiveCameras(CamerasBase):
    """OpenGL-style perspective cameras given by a vertical field of view.

    The projection maps the view frustum to NDC x, y and depth z in [0, 1] (znear -> 0,
    zfar -> 1): with s = 1 / tan(fov / 2), x_ndc = s X / (aspect_ratio Z), y_ndc = s Y / Z,
    z_ndc = zfar (Z - znear) / ((zfar - znear) Z).
    """

    _FIELDS = ("K", "znear", "zfar", "aspect_ratio", "fov", "R", "T", "degrees")
    _SHARED_FIELDS = ("degrees",)

    def __init__(
        self,
        znear=1.0,
        zfar=100.0,
        aspect_ratio=1.0,
        fov=60.0,
        degrees: bool = True,
        R: torch.Tensor = DEFAULT_R,
        T: torch.Tensor = DEFAULT_T,
        K: torch.Tensor | None = None,
        device: Device = "cpu",
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self._set_dtype(dtype)
        super().__init__(
            device=device,
            znear=znear,
            zfar=zfar,
            aspect_ratio=aspect_ratio,
            fov=fov,
            R=R,
            T=T,
            K=K,
        )
        self.degrees = degrees
        self._post_init()
        if self.K is not None:
            check_K(self.K, self._N)

    def compute_projection_matrix(
        self, znear, zfar, fov, aspect_ratio, degrees: bool
    ) -> torch.Tensor:
        """(N, 4, 4) column-vector projection matrix (see the class docstring)."""
        znear, zfar, fov, aspect_ratio = convert_to_tensors_and_broadcast(
            znear, zfar, fov, aspect_ratio, device=self.device
        )
        if degrees:
            fov = fov * (math.pi / 180.0)
        tan_half = torch.tan(fov / 2)
        N = max(self._N, fov.shape[0])
        K = torch.zeros(N, 4, 4, dtype=self._dtype(), device=fov.device)
        K[:, 0, 0] = 1.0 / (tan_half * aspect_ratio)
        K[:, 1, 1] = 1.0 / tan_half
        K[:, 3, 2] = 1.0
        K[:, 2, 2] = zfar / (zfar - znear)
        K[:, 2, 3] = -(zfar * znear) / (zfar - znear)
        return K

    def get_projection_transform(self, **kwargs: Any) -> Transform3d:
        """View -> NDC projection (K=, znear=, zfar=, fov=, aspect_ratio=, degrees= override)."""
        return self._projection(
            kwargs,
            lambda: self.compute_projection_matrix(
                kwargs.get("znear", self.znear),
                kwargs.get("zfar", self.zfar),
                kwargs.get("fov", self.fov),
                kwargs.get("aspect_ratio", self.aspect_ratio),
                kwargs.get("degrees", self.degrees),
            ),
        )

    def unproject_points(
        self,
        xy_depth: torch.Tensor,
        world_coordinates: bool = True,
        scaled_depth_input: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Invert the projection.

        Args:
            xy_depth: (N, P, 3) or (P, 3) float NDC x, y and the view-space depth Z (or, with
                scaled_depth_input=True, the NDC depth in [0, 1]).
            world_coordinates: return world points (else view-space points).

        Returns:
            points of the shape of xy_depth.
        """
        to_ndc = self._unprojection_base(world_coordinates, kwargs)
        if not scaled_depth_input:
            f1, f2 = self._depth_coefficients(xy_depth, kwargs)
            depth = xy_depth[..., 2:3]
            xy_depth = torch.cat((xy_depth[..., :2], (f1 * depth + f2) / depth), dim=-1)
        return to_ndc.inverse().transform_points(xy_depth)

    def is_perspective(self) -> bool:
        return True


class FoVOrthographicCameras(CamerasBase):
    """OpenGL-style orthographic cameras given by the view box [min_x, max_x] x [min_y, max_y].

    x_ndc = 2 X sx / (max_x - min_x) - (max_x + min_x) / (max_x - min_x) (same for y) and
    z_ndc = (Z sz - znear) / (zfar - znear), with (sx, sy, sz) = scale_xyz.
    """

    _FIELDS = ("K", "znear", "zfar", "R", "T", "max_y", "min_y", "max_x", "min_x", "scale_xyz")

    def __init__(
        self,
        znear=1.0,
        zfar=100.0,
        max_y=1.0,
        min_y=-1.0,
        max_x=1.0,
        min_x=-1.0,
        scale_xyz=((1.0, 1.0, 1.0),),
        R: torch.Tensor = DEFAULT_R,
        T: torch.Tensor = DEFAULT_T,
        K: torch.Tensor | None = None,
        device: Device = "cpu",
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self._set_dtype(dtype)
        super().__init__(
            device=device,
            znear=znear,
            zfar=zfar,
            max_y=max_y,
            min_y=min_y,
            max_x=max_x,
            min_x=min_x,
            scale_xyz=scale_xyz,
            R=R,
            T=T,
            K=K,
        )
        self._post_init()
        if self.scale_xyz.dim() != 2 or self.scale_xyz.shape[-1] != 3:
            raise ValueError(f"scale_xyz must have shape (N, 3); got {tuple(self.scale_xyz.shape)}")
        if self.K is not None:
            check_K(self.K, self._N)

    def compute_projection_matrix(
        self, znear, zfar, max_x, min_x, max_y, min_y, scale_xyz
    ) -> torch.Tensor:
        """(N, 4, 4) column-vector projection matrix (see the class docstring)."""
        znear, zfar, max_x, min_x, max_y, min_y, scale_xyz = convert_to_tensors_and_broadcast(
            znear, zfar, max_x, min_x, max_y, min_y, scale_xyz, device=self.device
        )
        N = znear.shape[0]
        K = torch.zeros(N, 4, 4, dtype=self._dtype(), device=scale_xyz.device)
        K[:, 0, 0] = 2.0 / (max_x - min_x) * scale_xyz[:, 0]
        K[:, 1, 1] = 2.0 / (max_y - min_y) * scale_xyz[:, 1]
        K[:, 0, 3] = -(max_x + min_x) / (max_x - min_x)
        K[:, 1, 3] = -(max_y + min_y) / (max_y - min_y)
        K[:, 2, 2] = scale_xyz[:, 2] / (zfar - znear)
        K[:, 2, 3] = -znear / (zfar - znear)
        K[:, 3, 3] = 1.0
        return K

    def get_projection_transform(self, **kwargs: Any) -> Transform3d:
        """View -> NDC projection (K=, znear=, zfar=, max_x=, ..., scale_xyz= override)."""
        return self._projection(
            kwargs,
            lambda: self.compute_projection_matrix(
                *(
                    kwargs.get(k, getattr(self, k))
                    for k in ("znear", "zfar", "max_x", "min_x", "max_y", "min_y", "scale_xyz")
                )
            ),
        )

    def unproject_points(
        self,
        xy_depth: torch.Tensor,
        world_coordinates: bool = True,
        scaled_depth_input: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Invert the projection; xy_depth: (N, P, 3) or (P, 3) NDC x, y and view depth Z
        (or NDC depth with scaled_depth_input=True). Returns world (or view) points."""
        to_ndc = self._unprojection_base(world_coordinates, kwargs)
        if not scaled_depth_input:
            scale_z, mid_z = self._depth_coefficients(xy_depth, kwargs)
            depth = scale_z * xy_depth[..., 2:3] + mid_z
            xy_depth = torch.cat((xy_depth[..., :2], depth), dim=-1)
        return to_ndc.inverse().transform_points(xy_depth)

    def is_perspective(self) -> bool:
        return False


class _SfMCameras(CamerasBase):
    """Shared code of PerspectiveCameras and OrthographicCameras."""

    _FIELDS = ("K", "R", "T", "focal_length", "principal_point", "_in_ndc", "image_size")
    _SHARED_FIELDS = ("_in_ndc",)
    _ORTHOGRAPHIC = False

    def __init__(
        self,
        focal_length=1.0,
        principal_point=((0.0, 0.0),),
        R: torch.Tensor = DEFAULT_R,
        T: torch.Tensor = DEFAULT_T,
        K: torch.Tensor | None = None,
        device: Device = "cpu",
        in_ndc: bool = True,
        image_size=None,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        self._set_dtype(dtype)
        image_size = normalise_image_size(image_size)
        extra = {"image_size": image_size} if image_size is not None else {}
        super().__init__(
            device=device,
            focal_length=focal_length,
            principal_point=principal_point,
            R=R,
            T=T,
            K=K,
            _in_ndc=bool(in_ndc),
            **extra,
        )
        if image_size is None:
            self.image_size = None
        # PyTorch3D stores focal_length as (N, 2) (fx, fy) whatever form was given
        if self.focal_length.dim() == 1:
            self.focal_length = self.focal_length[:, None]
        if self.focal_length.dim() == 2 and self.focal_length.shape[-1] == 1:
            self.focal_length = self.focal_length.expand(-1, 2)
        self._post_init()
        if self.principal_point.shape[-1] != 2:
            raise ValueError(
                f"principal_point must have shape (N, 2); got {tuple(self.principal_point.shape)}"
            )
        if self.K is not None:
            check_K(self.K, self._N)

    def in_ndc(self) -> bool:
        return self._in_ndc

    def get_projection_transform(self, **kwargs: Any) -> Transform3d:
        """View -> NDC (in_ndc=True) or view -> screen (in_ndc=False) projection.

        K=, focal_length=, principal_point= override the camera's.
        """
        return self._projection(
            kwargs,
            lambda: sfm_calibration_matrix(
                self._N,
                kwargs.get("focal_length", self.focal_length),
                kwargs.get("principal_point", self.principal_point),
                orthographic=self._ORTHOGRAPHIC,
            ),
        )

    def get_principal_point(self, **kwargs: Any) -> torch.Tensor:
        """(N, 2) float principal point, read from the projection matrix."""
        M = self.get_projection_transform(**kwargs).get_matrix()
        return M[:, 3 if self._ORTHOGRAPHIC else 2, :2]

    def get_ndc_camera_transform(self, **kwargs: Any) -> Transform3d:
        """Projection space -> NDC: identity for NDC cameras; for screen cameras the principal
        point (given in image coordinates, +x right, +y down) is mirrored into PyTorch3D's
        +X left, +Y up convention before the screen -> NDC conversion."""
        if self.in_ndc():
            return Transform3d(device=self.device, dtype=self._dtype())
        pp = self.get_principal_point(**kwargs)
        fix = torch.eye(4, dtype=pp.dtype, device=pp.device).repeat(pp.shape[0], 1, 1)
        fix[:, 3, :2] = -2.0 * pp
        image_size = kwargs.get("image_size", self.get_image_size())
        to_ndc = get_screen_to_ndc_transform(self, with_xyflip=False, image_size=image_size)
        return transform_from_matrix(fix).compose(to_ndc)

    def unproject_points(
        self,
        xy_depth: torch.Tensor,
        world_coordinates: bool = True,
        from_ndc: bool = False,
        **kwargs: Any,
    ) -> torch.Tensor:
        """Invert the projection.

        Args:
            xy_depth: (N, P, 3) or (P, 3) float: projected x, y (in the camera's projection
                space: NDC if in_ndc else pixels as returned by transform_points; with
                from_ndc=True, NDC in any case) and the view-space depth Z.
            world_coordinates: return world points (else view-space points).
            from_ndc: xy are NDC coordinates even for a screen-space camera.

        Returns:
            points of the shape of xy_depth.
        """
        to_camera = self._unprojection_base(world_coordinates, kwargs)
        if from_ndc:
            to_camera = to_camera.compose(self.get_ndc_camera_transform(**kwargs))
        if not self._ORTHOGRAPHIC:
            xy_depth = torch.cat((xy_depth[..., :2], 1.0 / xy_depth[..., 2:3]), dim=-1)
        return to_camera.inverse().transform_points(xy_depth)


class PerspectiveCameras(_SfMCameras):
    """Pinhole cameras given by focal length and principal point.

    Projection: x = fx X / Z + px, y = fy Y / Z + py, z = 1 / Z. With in_ndc=True (default)
    these are NDC units; with in_ndc=False they are pixels and image_size=(H, W) is needed to
    go to NDC / screen (transform_points_screen then returns x_screen = px - fx X / Z, since
    +X of view space points left).

    Args:
        focal_length: a float, (N,), (N, 1) or (N, 2) float (fx, fy); stored as (N, 2).
        principal_point: (N, 2) float (px, py).
        R: (N, 3, 3) float, T: (N, 3) float world-to-view.
        K: optional (N, 4, 4) float column-vector projection matrix replacing the above.
        in_ndc: whether focal_length / principal_point are in NDC (True) or pixels (False).
        image_size: (H, W) or (N, 2) ints.
    """

    _ORTHOGRAPHIC = False

    def is_perspective(self) -> bool:
        return True


class OrthographicCameras(_SfMCameras):
    """Orthographic cameras: x = fx X + px, y = fy Y + py, z = Z (see PerspectiveCameras)."""

    _ORTHOGRAPHIC = True

    def is_perspective(self) -> bool:
        return False


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated; use {new} instead.", PendingDeprecationWarning, stacklevel=3
    )


def OpenGLPerspectiveCameras(
    znear=1.0,
    zfar=100.0,
    aspect_ratio=1.0,
    fov=60.0,
    degrees: bool = True,
    R: torch.Tensor = DEFAULT_R,
    T: torch.Tensor = DEFAULT_T,
    device: Device = "cpu",
) -> FoVPerspectiveCameras:
    """Deprecated alias of FoVPerspectiveCameras."""
    _deprecated("OpenGLPerspectiveCameras", "FoVPerspectiveCameras")
    return FoVPerspectiveCameras(
        znear=znear,
        zfar=zfar,
        aspect_ratio=aspect_ratio,
        fov=fov,
        degrees=degrees,
        R=R,
        T=T,
        device=device,
    )


def OpenGLOrthographicCameras(
    znear=1.0,
    zfar=100.0,
    top=1.0,
    bottom=-1.0,
    left=-1.0,
    right=1.0,
    scale_xyz=((1.0, 1.0, 1.0),),
    R: torch.Tensor = DEFAULT_R,
    T: torch.Tensor = DEFAULT_T,
    device: Device = "cpu",
) -> FoVOrthographicCameras:
    """Deprecated alias of FoVOrthographicCameras (top/bottom/left/right = max_y/min_y/min_x/max_x)."""
    _deprecated("OpenGLOrthographicCameras", "FoVOrthographicCameras")
    return FoVOrthographicCameras(
        znear=znear,
        zfar=zfar,
        max_y=top,
        min_y=bottom,
        max_x=right,
        min_x=left,
        scale_xyz=scale_xyz,
        R=R,
        T=T,
        device=device,
    )


def _sfm_alias(name: str, cls: type[_SfMCameras]) -> Callable[..., _SfMCameras]:
    """The deprecated function `name`: cls (NDC) from focal_length, principal_point, R, T."""

    def alias(
        focal_length=1.0,
        principal_point=((0.0, 0.0),),
        R: torch.Tensor = DEFAULT_R,
        T: torch.Tensor = DEFAULT_T,
        device: Device = "cpu",
    ):
        _deprecated(name, cls.__name__)
        return cls(
            focal_length=focal_length, principal_point=principal_point, R=R, T=T, device=device
        )

    alias.__name__ = alias.__qualname__ = name
    alias.__doc__ = f"Deprecated alias of {cls.__name__} (NDC)."
    alias.__annotations__["return"] = cls.__name__
    return alias


SfMPerspectiveCameras = _sfm_alias("SfMPerspectiveCameras", PerspectiveCameras)
SfMOrthographicCameras = _sfm_alias("SfMOrthographicCameras", OrthographicCameras)


def try_get_projection_transform(
    cameras: CamerasBase, cameras_kwargs: dict[str, Any]
) -> Transform3d | None:
    """cameras.get_projection_transform(**cameras_kwargs), or None for cameras that do not
    implement one (NotImplementedError), as PyTorch3D's helper of the same name."""
    try:
        return cameras.get_projection_transform(**cameras_kwargs)
    except NotImplementedError:
        return None
