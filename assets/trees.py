"""Green spaces (espaces verts): LiDAR tile registry, the old tree register, trees per quartier."""


from transforms import trees as T

from .lake import Lake
from .layers import bronze, gold, silver, silver_key


@silver("lidar_tiles", group="espaces_verts", deps=[bronze("lidar_tiles"), silver_key("quartiers")],
        keys=["tile_id", "epoch"])
def lidar_tiles(lake: Lake):
    """LiDAR tiles per scan epoch: bounds (EPSG:2154), points, density (pts/m²), points per class,
    whether the delivery carries a ground class, quartier of the tile centre."""
    return T.lidar_tiles(lake.read("bronze", "lidar_tiles"), lake.read("silver", "quartiers"))


@silver("tree_register", group="espaces_verts", deps=[bronze("tree_register"), silver_key("quartiers")],
        keys=["register_id"])
def tree_register(lake: Lake):
    """The city's old tree register: species, position, quartier, height (m), girth and DBH (cm)."""
    return T.tree_register(lake.read("bronze", "tree_register"), lake.read("silver", "quartiers"))


@gold("trees_by_quartier", group="espaces_verts",
      deps=[silver_key("tree_register"), silver_key("lidar_tiles"), silver_key("quartiers")])
def trees_by_quartier(lake: Lake):
    """Per quartier: registered trees, trees per km², species count and main species, mean height
    (m) and DBH (cm), LiDAR tiles and points per scan epoch."""
    return T.trees_by_quartier(lake.read("silver", "tree_register"), lake.read("silver", "lidar_tiles"),
                               lake.read("silver", "quartiers"))


ASSETS = [lidar_tiles, tree_register, trees_by_quartier]
