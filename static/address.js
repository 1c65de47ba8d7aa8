// Progressive enhancement: when the province changes, load its communes/wards.
// Without JavaScript the form has a "refresh the commune list" button instead.
(function () {
  document.querySelectorAll("select[data-wards-url]").forEach(function (province) {
    var ward = province.form && province.form.querySelector("select[name='ward_code']");
    if (!ward) return;
    province.addEventListener("change", function () {
      var url = province.getAttribute("data-wards-url") + "?province=" + encodeURIComponent(province.value);
      fetch(url, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : []; })
        .then(function (rows) {
          ward.innerHTML = "";
          rows.forEach(function (row) {
            var opt = document.createElement("option");
            opt.value = row[0];
            opt.textContent = row[1];
            ward.appendChild(opt);
          });
        });
    });
  });
})();
