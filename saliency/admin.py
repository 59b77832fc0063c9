from django.contrib import admin

from .models import SourceImage, Stimulus


class StimulusInline(admin.TabularInline):
    model = Stimulus
    extra = 0


@admin.register(SourceImage)
class SourceImageAdmin(admin.ModelAdmin):
    list_display = ["dataset", "test_index", "class_name"]
    list_filter = ["dataset", "class_name"]
    inlines = [StimulusInline]


@admin.register(Stimulus)
class StimulusAdmin(admin.ModelAdmin):
    list_display = ["source_image", "variant", "method", "target_rank", "target_class", "predicted_class",
                    "confidence", "preset", "rendering"]
    list_filter = ["variant", "method", "target_rank", "source_image__dataset", "preset", "rendering", "scaling"]
