app_name = "studyapp"
urlpatterns = []
