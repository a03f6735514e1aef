/**
 * The configurations nginx and Varnish run with in the bench: a plain cache in front of the bench's upstream,
 * keyed by the object's path, as a user would set either up to cache S3 objects. Neither verifies signatures:
 * each drops the client's query (the presigned URL's signature) and Authorization header and fetches the path
 * unsigned, which the embedded upstream serves (it allows anonymous reads).
 */

/** The response header each competitor's configuration sets to HIT when it served from its cache. */
export const NGINX_CACHE_HEADER = 'x-cache-status';
export const VARNISH_CACHE_HEADER = 'x-cache';

export interface NginxConfigOptions {
  /** Directory for the pid file, logs, temp files and the cache. */
  dir: string;
  listenPort: number;
  upstream: URL;
  /** Unix user the worker runs as when nginx starts as root (otherwise it would switch to nobody). */
  workerUser: string | undefined;
}

/**
 * One worker process, as Falcon is one process. The cache lives on disk (nginx has no memory-only cache), so a
 * hit is served from the page cache with sendfile; `proxy_cache_valid 1d` keeps it warm for any run's length.
 */
export function nginxConfig({ dir, listenPort, upstream, workerUser }: NginxConfigOptions): string {
  return `${workerUser === undefined ? '' : `user ${workerUser};\n`}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;

events {
  worker_connections 4096;
}

http {
  access_log off;
  sendfile on;
  tcp_nopush off;
  keepalive_requests 1000000;
  keepalive_timeout 65s;
  client_body_temp_path ${dir}/client-body;
  proxy_temp_path ${dir}/proxy-temp;
  fastcgi_temp_path ${dir}/fastcgi-temp;
  uwsgi_temp_path ${dir}/uwsgi-temp;
  scgi_temp_path ${dir}/scgi-temp;
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=objects:10m max_size=1g inactive=1d use_temp_path=off;

  upstream s3 {
    server ${upstream.host};
    keepalive 16;
  }

  server {
    listen 127.0.0.1:${listenPort};

    location / {
      limit_except GET {
        deny all;
      }
      # The path only: the query (a presigned URL's signature) is neither part of the key nor sent upstream.
      proxy_pass http://s3$uri;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host ${upstream.host};
      proxy_set_header Authorization "";
      proxy_cache objects;
      proxy_cache_key $uri;
      proxy_cache_valid 200 1d;
      proxy_cache_lock on;
      proxy_ignore_headers Cache-Control Expires Set-Cookie Vary X-Accel-Expires;
      proxy_hide_header Set-Cookie;
      add_header X-Cache-Status $upstream_cache_status always;
    }
  }
}
`;
}

/**
 * Varnish's own defaults otherwise (two thread pools, its usual thread counts); storage is given on the command
 * line (malloc). GETs are cached by path whatever their query or Authorization header, for a day.
 */
export function varnishVcl(upstream: URL): string {
  return `vcl 4.1;

backend s3 {
  .host = "${upstream.hostname}";
  .port = "${upstream.port}";
}

sub vcl_recv {
  if (req.method != "GET" && req.method != "HEAD") {
    return (synth(405));
  }
  # The path only: the query (a presigned URL's signature) is neither part of the key nor sent upstream.
  set req.url = regsub(req.url, "\\?.*$", "");
  unset req.http.Authorization;
  unset req.http.Cookie;
  return (hash);
}

sub vcl_hash {
  hash_data(req.url);
  return (lookup);
}

sub vcl_backend_response {
  unset beresp.http.Set-Cookie;
  if (beresp.status == 200) {
    set beresp.ttl = 1d;
    set beresp.uncacheable = false;
  }
  return (deliver);
}

sub vcl_deliver {
  if (obj.hits > 0) {
    set resp.http.X-Cache = "HIT";
  } else {
    set resp.http.X-Cache = "MISS";
  }
}
`;
}
