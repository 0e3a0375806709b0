"""Development server: `python run.py` (HOST and PORT from the environment)."""

import os

from meme_api import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
