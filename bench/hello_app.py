"""A bare Flask app, no extensions: the baseline ``bench/scan.py`` measures pages against."""
from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return app.response_class("hello", mimetype="text/plain")
