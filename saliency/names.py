"""Names that saliency's records share with the export, the analysis and the survey pages, free of torch and Django.

The explanation metrics are computed in saliency.metrics (torch); studyapp.schema names the export's
columns after them, so they live here, where both can import them. The renderings and scalings of a map are
applied in saliency.rendering (matplotlib), recorded on each stimulus and exported; their names live here too.
"""

METRIC_NAMES = ("gini", "ris", "ros", "road_aopc", "ssim")

# How a map's values become colours (saliency.rendering): `sequential` shows the values from 0 up (below 0 as 0),
# `absolute` shows their magnitude |value|, `diverging` shows the sign around a white zero on a symmetric range.
SEQUENTIAL, ABSOLUTE, DIVERGING = RENDERINGS = ("sequential", "absolute", "diverging")
# The range a map is scaled to: its own (`map`), or one range shared by the models' maps of one image by one
# method (`image`): the maps a side-by-side page that compares models shows together.
PER_MAP, PER_IMAGE = SCALINGS = ("map", "image")
DEFAULT_RENDERING, DEFAULT_SCALING = SEQUENTIAL, PER_MAP

# Issue 29: a map explains one class of the model's output, its target. Rank 1 is the model's prediction: the maps
# rating and side-by-side pages show. A stimulus records its target and the model's top-K classes (the options of
# a task page) in these fields, which stimuli.csv exports (studyapp.schema) and import_stimuli's manifest may give.
PREDICTION_RANK = 1
TARGET_RANK = "target_rank"
TARGET_FIELDS = ("target_class", TARGET_RANK, "target_probability", "top_classes", "top_probabilities")
LIST_SEPARATOR = "|"  # a list of classes or probabilities in one CSV cell: "Sneaker|Sandal", "0.81|0.1"
PROBABILITY_DIGITS = 4  # significant digits of the class probabilities generate_stimuli records
