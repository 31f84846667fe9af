"""A 127.0.0.1 HTTP file server for download tests (tests never reach the internet)."""
import http.server
import threading


class Server:
    """127.0.0.1 HTTP server over ``files`` (url path → bytes) with Range support.

    ``cut``: serve only this many bytes of a response, then close (a dropped connection);
    ``ignore_range``: answer 200 with the whole file even when asked for a range.
    """

    def __init__(self, files):
        self.files, self.cut, self.ignore_range, self.requests = files, None, False, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append((self.path, self.headers.get("Range")))
                data = outer.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and not outer.ignore_range:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1,
                                                                          len(data)))
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut is not None:
                    body = body[:outer.cut]
                    outer.cut = None
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
