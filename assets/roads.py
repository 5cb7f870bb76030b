"""Roads (voirie): survey frames matched to the street network, survey coverage per street."""


from transforms import roads as T

from .lake import Lake
from .layers import bronze, gold, silver, silver_key


@silver("road_frames", group="voirie", deps=[bronze("road_frames"), silver_key("street_segments")],
        keys=["survey_id", "file"])
def road_frames(lake: Lake):
    """Survey frames: time, position (WGS84 and EPSG:2154), heading, matched street segment and
    distance to it (m); frames farther than 20 m from any street keep a NULL segment."""
    return T.road_frames(lake.read("bronze", "road_frames"), lake.read("silver", "street_segments"))


@gold("survey_coverage", group="voirie", deps=[silver_key("road_frames"), silver_key("street_segments")])
def survey_coverage(lake: Lake):
    """Per survey and street: network km, km surveyed, frames, coverage %; unmatched frames on a
    row with a NULL street."""
    return T.survey_coverage_by_street(lake.read("silver", "road_frames"), lake.read("silver", "street_segments"))


ASSETS = [road_frames, survey_coverage]
