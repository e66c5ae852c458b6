"""Server-rendered pages for operators and sellers (`/ui`), on the same services as the API."""
