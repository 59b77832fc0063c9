// Counts how often a survey page is hidden (another tab, a minimised window: the Page Visibility API) and sends
// the count with the answer in the form's hidden page_hides field. Without script the field stays empty, and the
// stored count is empty too (not 0). Nothing else is sent.
(function () {
  var field = document.querySelector('input[name="page_hides"]');
  if (!field || typeof document.visibilityState === "undefined") { return; }
  var count = parseInt(field.value, 10);
  field.value = isNaN(count) ? 0 : count;
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") { field.value = parseInt(field.value, 10) + 1; }
  });
}());
