from django.apps import AppConfig


class SaliencyConfig(AppConfig):
    name = "saliency"
    verbose_name = "Saliency stimuli"
