"""Names that saliency's records share with the export and the analysis, free of torch and Django.

The explanation metrics are computed in saliency.metrics (torch); studyapp.schema names the export's
columns after them, so they live here, where both can import them.
"""

METRIC_NAMES = ("gini", "ris", "ros", "road_aopc", "ssim")
