// SPDX-License-Identifier: Apache-2.0
/*
 * kubeconfig: resolves a kubeconfig (libyaml's document API: the file is small and read
 * once) or the in-cluster service account into one struct kubeconfig. Only the fields a
 * bearer-token or client-certificate connection needs are read; unknown keys are ignored as
 * kubectl does, but anything that would weaken or silently change TLS verification
 * (insecure-skip-tls-verify, tls-server-name, plain http) and credential plugins are refused.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "kubeconfig.h"
#include "log.h"

#define KUBECONFIG_MAX_FILE_BYTES  (4u << 20)
#define KUBECONFIG_MAX_TOKEN_BYTES (64u << 10)
#define KUBECONFIG_QUOTE_BYTES	   64u

struct kc_ctx {
	const char *name;     /* borrowed: file name for messages */
	const char *base_dir; /* borrowed: relative paths resolve against it */
	yaml_document_t *doc; /* borrowed */
	char *errbuf;	      /* borrowed, may be NULL */
	size_t errbuf_size;
};

static void __attribute__((format(printf, 3, 4)))
fail_at(const struct kc_ctx *c, const yaml_node_t *node, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	if (!c->errbuf || !c->errbuf_size)
		return;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (node)
		snprintf(c->errbuf, c->errbuf_size, "%s: line %zu: %s", c->name,
			 (size_t)node->start_mark.line + 1, what);
	else
		snprintf(c->errbuf, c->errbuf_size, "%s: %s", c->name, what);
}

static void __attribute__((format(printf, 3, 4)))
fail_buf(char *errbuf, size_t errbuf_size, const char *fmt, ...)
{
	va_list ap;

	if (!errbuf || !errbuf_size)
		return;
	va_start(ap, fmt);
	vsnprintf(errbuf, errbuf_size, fmt, ap);
	va_end(ap);
}

void kubeconfig_done(struct kubeconfig *kc)
{
	if (!kc)
		return;
	free(kc->server);
	free(kc->ca_file);
	free(kc->ca_pem);
	free(kc->cert_file);
	free(kc->cert_pem);
	free(kc->key_file);
	free(kc->key_pem);
	free(kc->token);
	free(kc->token_file);
	free(kc->proxy_url);
	free(kc->context);
	memset(kc, 0, sizeof(*kc));
}

/* ---- YAML navigation ---------------------------------------------------------------- */

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       memcmp(n->data.scalar.value, s, n->data.scalar.length) == 0;
}

/* A plain null (~, null, empty) counts as absent, like an empty string. */
static bool scalar_is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE)
		return false;
	if (n->data.scalar.length == 0)
		return true;
	return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
	       (scalar_is(n, "~") || scalar_is(n, "null") || scalar_is(n, "Null") ||
		scalar_is(n, "NULL"));
}

static yaml_node_t *map_get(const struct kc_ctx *c, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *pair;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, pair->key);

		if (scalar_is(k, key)) {
			yaml_node_t *v = yaml_document_get_node(c->doc, pair->value);

			return v && !scalar_is_null(v) ? v : NULL;
		}
	}
	return NULL;
}

/*
 * The string at map[key]: 0 with *ret = the value (borrowed from the document) or NULL when
 * absent; -EINVAL when it is not a string or holds a NUL byte.
 */
static int get_str(const struct kc_ctx *c, const yaml_node_t *map, const char *where,
		   const char *key, const char **ret)
{
	yaml_node_t *v = map_get(c, map, key);

	*ret = NULL;
	if (!v)
		return 0;
	if (v->type != YAML_SCALAR_NODE) {
		fail_at(c, v, "%s: '%s' must be a string", where, key);
		return -EINVAL;
	}
	if (strlen((const char *)v->data.scalar.value) != v->data.scalar.length) {
		fail_at(c, v, "%s: '%s' contains a NUL byte", where, key);
		return -EINVAL;
	}
	*ret = (const char *)v->data.scalar.value;
	return 0;
}

/* YAML 1.1 booleans, as Go's yaml accepts them. Absent = false. */
static int get_bool(const struct kc_ctx *c, const yaml_node_t *map, const char *where,
		    const char *key, bool *ret)
{
	static const char *const yes[] = {"true", "True", "TRUE", "yes", "Yes",
					  "YES",  "on",	  "On",	  "ON",	 "y"};
	static const char *const no[] = {"false", "False", "FALSE", "no",  "No",
					 "NO",	  "off",   "Off",   "OFF", "n"};
	yaml_node_t *v = map_get(c, map, key);

	*ret = false;
	if (!v)
		return 0;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (scalar_is(v, yes[i])) {
			*ret = true;
			return 0;
		}
		if (scalar_is(v, no[i]))
			return 0;
	}
	fail_at(c, v, "%s: '%s' must be true or false", where, key);
	return -EINVAL;
}

/*
 * In a list of {name: N, <field>: {...}} entries (clusters, contexts, users), find the entry
 * named name. Returns 1 with *ret = its <field> mapping (NULL when the entry has none),
 * 0 when there is no such entry, -EINVAL when the list is malformed.
 */
static int find_named(const struct kc_ctx *c, const yaml_node_t *root, const char *list,
		      const char *field, const char *name, yaml_node_t **ret)
{
	yaml_node_t *seq = map_get(c, root, list);
	yaml_node_item_t *it;

	*ret = NULL;
	if (!seq)
		return 0;
	if (seq->type != YAML_SEQUENCE_NODE) {
		fail_at(c, seq, "'%s' must be a list", list);
		return -EINVAL;
	}
	for (it = seq->data.sequence.items.start; it < seq->data.sequence.items.top; it++) {
		yaml_node_t *entry = yaml_document_get_node(c->doc, *it);
		yaml_node_t *body;

		if (!entry || entry->type != YAML_MAPPING_NODE) {
			fail_at(c, entry ? entry : seq, "'%s' entries must be mappings", list);
			return -EINVAL;
		}
		if (!scalar_is(map_get(c, entry, "name"), name))
			continue;
		body = map_get(c, entry, field);
		if (body && body->type != YAML_MAPPING_NODE) {
			fail_at(c, body, "%s entry '%s': '%s' must be a mapping", list, name,
				field);
			return -EINVAL;
		}
		*ret = body;
		return 1;
	}
	return 0;
}

/* ---- values -------------------------------------------------------------------------- */

static int b64_value(unsigned char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Strict standard base64 (whitespace between groups allowed, '=' padding optional at the
 * end). Returns 0 with a malloc'ed, NUL-terminated result, or -EINVAL.
 */
static int b64_decode(const char *in, char **ret, size_t *ret_len)
{
	size_t n = strlen(in), out_len = 0;
	unsigned acc = 0, bits = 0, pad = 0;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;

		if (isspace(ch))
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		v = b64_value(ch);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[out_len++] = (char)((acc >> bits) & 0xff);
		}
	}
	/* leftover bits: 0 (complete), 2 (one '=' short of 4) or 4; 6 is impossible */
	if (bits == 6 || pad > 2 || (acc & ((1u << bits) - 1)) != 0 || out_len == 0)
		goto bad;
	out[out_len] = '\0';
	*ret = out;
	*ret_len = out_len;
	return 0;
bad:
	free(out);
	return -EINVAL;
}

/* path, or base_dir/path when relative; malloc'ed. */
static char *resolve_path(const char *base_dir, const char *path)
{
	size_t nb, np;
	char *out;

	if (path[0] == '/' || !base_dir || !base_dir[0])
		return strdup(path);
	nb = strlen(base_dir);
	np = strlen(path);
	out = malloc(nb + np + 2);
	if (!out)
		return NULL;
	memcpy(out, base_dir, nb);
	out[nb] = '/';
	memcpy(out + nb + 1, path, np + 1);
	return out;
}

/*
 * One credential or CA given as a file (key_file) or inline base64 (key_data): both forms
 * at once are refused (client-go refuses them too).
 */
static int get_file_or_data(const struct kc_ctx *c, const yaml_node_t *map, const char *where,
			    const char *key_file, const char *key_data, char **ret_file,
			    char **ret_pem, size_t *ret_pem_bytes)
{
	const char *file, *data;
	int rc;

	if (get_str(c, map, where, key_file, &file) < 0 ||
	    get_str(c, map, where, key_data, &data) < 0)
		return -EINVAL;
	if (file && data) {
		fail_at(c, map_get(c, map, key_data), "%s: both '%s' and '%s' are set; keep one",
			where, key_file, key_data);
		return -EINVAL;
	}
	if (file) {
		*ret_file = resolve_path(c->base_dir, file);
		return *ret_file ? 0 : -ENOMEM;
	}
	if (data) {
		rc = b64_decode(data, ret_pem, ret_pem_bytes);
		if (rc == -EINVAL)
			fail_at(c, map_get(c, map, key_data), "%s: '%s' is not valid base64", where,
				key_data);
		return rc;
	}
	return 0;
}

static int dup_str(const char *s, char **ret)
{
	if (!s)
		return 0;
	*ret = strdup(s);
	return *ret ? 0 : -ENOMEM;
}

static int parse_cluster(const struct kc_ctx *c, const yaml_node_t *cl, const char *name,
			 struct kubeconfig *kc)
{
	char where[KUBECONFIG_QUOTE_BYTES + 32], q[KUBECONFIG_QUOTE_BYTES + 8];
	const char *server, *s;
	bool insecure;
	size_t n;

	snprintf(where, sizeof(where), "cluster '%s'", log_quote(name, q, sizeof(q)));
	if (get_bool(c, cl, where, "insecure-skip-tls-verify", &insecure) < 0)
		return -EINVAL;
	if (insecure) {
		fail_at(c, map_get(c, cl, "insecure-skip-tls-verify"),
			"%s: insecure-skip-tls-verify is set; labelflowd always verifies the API "
			"server's certificate: give certificate-authority or "
			"certificate-authority-data instead",
			where);
		return -EINVAL;
	}
	if (get_str(c, cl, where, "tls-server-name", &s) < 0)
		return -EINVAL;
	if (s) {
		fail_at(c, map_get(c, cl, "tls-server-name"),
			"%s: tls-server-name is not supported; use a server URL whose host name "
			"is in the certificate",
			where);
		return -EINVAL;
	}
	if (get_str(c, cl, where, "server", &server) < 0)
		return -EINVAL;
	if (!server) {
		fail_at(c, cl, "%s: no 'server'", where);
		return -EINVAL;
	}
	if (strncmp(server, "https://", 8) != 0 || !server[8]) {
		fail_at(c, map_get(c, cl, "server"),
			"%s: server '%s' is not an https:// URL; labelflowd talks to the API "
			"server over verified TLS only",
			where, log_quote(server, q, sizeof(q)));
		return -EINVAL;
	}
	kc->server = strdup(server);
	if (!kc->server)
		return -ENOMEM;
	n = strlen(kc->server);
	while (n > 8 && kc->server[n - 1] == '/')
		kc->server[--n] = '\0';
	if (get_file_or_data(c, cl, where, "certificate-authority", "certificate-authority-data",
			     &kc->ca_file, &kc->ca_pem, &kc->ca_pem_bytes) < 0)
		return -EINVAL;
	if (get_str(c, cl, where, "proxy-url", &s) < 0 || dup_str(s, &kc->proxy_url) < 0)
		return -EINVAL;
	return 0;
}

static int parse_user(const struct kc_ctx *c, const yaml_node_t *u, const char *name,
		      struct kubeconfig *kc)
{
	static const char *const unsupported[] = {"exec", "auth-provider", "username", "password",
						  "as"};
	char where[KUBECONFIG_QUOTE_BYTES + 32], q[KUBECONFIG_QUOTE_BYTES + 8];
	const char *token, *token_file;

	snprintf(where, sizeof(where), "user '%s'", log_quote(name, q, sizeof(q)));
	for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
		yaml_node_t *v = map_get(c, u, unsupported[i]);

		if (v) {
			fail_at(c, v,
				"%s: '%s' is not supported; use token, tokenFile or "
				"client-certificate/client-key",
				where, unsupported[i]);
			return -EINVAL;
		}
	}
	if (get_str(c, u, where, "token", &token) < 0 ||
	    get_str(c, u, where, "tokenFile", &token_file) < 0)
		return -EINVAL;
	/* as client-go: a token file, re-read periodically, wins over a static token */
	if (token_file) {
		kc->token_file = resolve_path(c->base_dir, token_file);
		if (!kc->token_file)
			return -ENOMEM;
	} else if (token) {
		for (const char *p = token; *p; p++) {
			if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
				fail_at(c, map_get(c, u, "token"),
					"%s: token holds bytes that cannot go into an HTTP header",
					where);
				return -EINVAL;
			}
		}
		if (dup_str(token, &kc->token) < 0)
			return -ENOMEM;
	}
	if (get_file_or_data(c, u, where, "client-certificate", "client-certificate-data",
			     &kc->cert_file, &kc->cert_pem, &kc->cert_pem_bytes) < 0 ||
	    get_file_or_data(c, u, where, "client-key", "client-key-data", &kc->key_file,
			     &kc->key_pem, &kc->key_pem_bytes) < 0)
		return -EINVAL;
	if (!!(kc->cert_file || kc->cert_pem) != !!(kc->key_file || kc->key_pem)) {
		fail_at(c, u, "%s: a client certificate needs both a certificate and a key", where);
		return -EINVAL;
	}
	return 0;
}

static int parse_root(const struct kc_ctx *c, const char *context, struct kubeconfig *kc)
{
	char q[KUBECONFIG_QUOTE_BYTES + 8];
	const char *ctx_name = context, *cluster_name, *user_name;
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	yaml_node_t *ctx, *cl, *u;
	int rc;

	if (!root) {
		fail_at(c, NULL, "empty document");
		return -EINVAL;
	}
	if (root->type != YAML_MAPPING_NODE) {
		fail_at(c, root, "a kubeconfig must be a mapping");
		return -EINVAL;
	}
	if (!ctx_name && get_str(c, root, "kubeconfig", "current-context", &ctx_name) < 0)
		return -EINVAL;
	if (!ctx_name) {
		fail_at(c, NULL, "no current-context set and no context chosen");
		return -EINVAL;
	}
	rc = find_named(c, root, "contexts", "context", ctx_name, &ctx);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		fail_at(c, NULL, "context '%s' not found in contexts",
			log_quote(ctx_name, q, sizeof(q)));
		return -EINVAL;
	}
	if (get_str(c, ctx, "context", "cluster", &cluster_name) < 0 ||
	    get_str(c, ctx, "context", "user", &user_name) < 0)
		return -EINVAL;
	if (!cluster_name) {
		fail_at(c, ctx, "context '%s' names no cluster", log_quote(ctx_name, q, sizeof(q)));
		return -EINVAL;
	}
	rc = find_named(c, root, "clusters", "cluster", cluster_name, &cl);
	if (rc < 0)
		return rc;
	if (rc == 0 || !cl) {
		fail_at(c, NULL, "cluster '%s' not found in clusters",
			log_quote(cluster_name, q, sizeof(q)));
		return -EINVAL;
	}
	rc = parse_cluster(c, cl, cluster_name, kc);
	if (rc < 0)
		return rc;
	if (user_name) {
		rc = find_named(c, root, "users", "user", user_name, &u);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			fail_at(c, NULL, "user '%s' not found in users",
				log_quote(user_name, q, sizeof(q)));
			return -EINVAL;
		}
		/* a user entry without fields means no credentials (anonymous), as in kubectl */
		if (u) {
			rc = parse_user(c, u, user_name, kc);
			if (rc < 0)
				return rc;
		}
	}
	return dup_str(ctx_name, &kc->context);
}

int kubeconfig_parse_string(const char *text, size_t len, const char *name, const char *base_dir,
			    const char *context, struct kubeconfig *ret_kc, char *errbuf,
			    size_t errbuf_size)
{
	struct kubeconfig kc = {0};
	yaml_parser_t parser;
	yaml_document_t doc;
	struct kc_ctx c = {
		.name = name ? name : "kubeconfig",
		.base_dir = base_dir ? base_dir : ".",
		.doc = &doc,
		.errbuf = errbuf,
		.errbuf_size = errbuf_size,
	};
	int rc;

	if (errbuf && errbuf_size)
		errbuf[0] = '\0';
	if (!yaml_parser_initialize(&parser))
		return -ENOMEM;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		char where[64] = "";

		if (parser.context)
			snprintf(where, sizeof(where), " (started at line %zu column %zu)",
				 (size_t)parser.context_mark.line + 1,
				 (size_t)parser.context_mark.column + 1);
		fail_buf(errbuf, errbuf_size, "%s: line %zu column %zu: %s%s%s%s", c.name,
			 (size_t)parser.problem_mark.line + 1,
			 (size_t)parser.problem_mark.column + 1,
			 parser.problem ? parser.problem : "malformed YAML",
			 parser.context ? " " : "", parser.context ? parser.context : "", where);
		rc = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
		yaml_parser_delete(&parser);
		return rc;
	}
	rc = parse_root(&c, context, &kc);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc < 0) {
		if (rc == -ENOMEM)
			fail_buf(errbuf, errbuf_size, "%s: out of memory", c.name);
		kubeconfig_done(&kc);
		return rc;
	}
	*ret_kc = kc;
	return 0;
}

/* Read a whole small file. Returns 0 with a malloc'ed, NUL-terminated buffer, or -errno. */
static int read_small_file(const char *path, size_t max_bytes, char **ret, size_t *ret_len)
{
	struct stat st;
	size_t len = 0;
	char *buf = NULL;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	buf = malloc(max_bytes + 1);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf + len, max_bytes + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max_bytes) {
			rc = -EFBIG;
			goto out;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	buf = NULL;
	rc = 0;
out:
	free(buf);
	close(fd);
	return rc;
}

int kubeconfig_load_file(const char *path, const char *context, struct kubeconfig *ret_kc,
			 char *errbuf, size_t errbuf_size)
{
	char *text = NULL, *dir = NULL, *slash;
	size_t len;
	int rc;

	rc = read_small_file(path, KUBECONFIG_MAX_FILE_BYTES, &text, &len);
	if (rc < 0) {
		fail_buf(errbuf, errbuf_size, "%s: %s", path,
			 rc == -EFBIG ? "larger than 4 MiB" : strerror(-rc));
		return rc;
	}
	dir = strdup(path);
	if (!dir) {
		free(text);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		dir[0] = '\0'; /* relative to the working directory */
	rc = kubeconfig_parse_string(text, len, path, dir[0] ? dir : ".", context, ret_kc, errbuf,
				     errbuf_size);
	free(dir);
	free(text);
	return rc;
}

static const char *sa_dir_or_default(const char *sa_dir)
{
	return sa_dir && sa_dir[0] ? sa_dir : KUBECONFIG_DEFAULT_SA_DIR;
}

bool kubeconfig_in_cluster_available(const char *sa_dir)
{
	char path[PATH_MAX];
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");

	if (!host || !host[0] || !port || !port[0])
		return false;
	snprintf(path, sizeof(path), "%s/token", sa_dir_or_default(sa_dir));
	return access(path, F_OK) == 0;
}

int kubeconfig_in_cluster(const char *sa_dir, struct kubeconfig *ret_kc, char *errbuf,
			  size_t errbuf_size)
{
	struct kubeconfig kc = {0};
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");
	const char *dir = sa_dir_or_default(sa_dir);
	char q[KUBECONFIG_QUOTE_BYTES + 8];
	char *end;
	unsigned long port_nr;
	size_t n;
	bool v6;

	if (!host || !host[0] || !port || !port[0]) {
		fail_buf(errbuf, errbuf_size,
			 "not in a cluster: KUBERNETES_SERVICE_HOST or KUBERNETES_SERVICE_PORT "
			 "is not set");
		return -ENOENT;
	}
	for (const char *p = host; *p; p++) {
		if (!isalnum((unsigned char)*p) && !strchr(".-:", *p)) {
			fail_buf(errbuf, errbuf_size, "KUBERNETES_SERVICE_HOST '%s' is not a host",
				 log_quote(host, q, sizeof(q)));
			return -EINVAL;
		}
	}
	errno = 0;
	port_nr = strtoul(port, &end, 10);
	if (errno || *end || port_nr == 0 || port_nr > 65535) {
		fail_buf(errbuf, errbuf_size, "KUBERNETES_SERVICE_PORT '%s' is not a port",
			 log_quote(port, q, sizeof(q)));
		return -EINVAL;
	}
	v6 = strchr(host, ':') != NULL;
	n = strlen(host) + 32;
	kc.server = malloc(n);
	kc.token_file = resolve_path(dir, "token");
	kc.ca_file = resolve_path(dir, "ca.crt");
	kc.context = strdup("in-cluster");
	if (!kc.server || !kc.token_file || !kc.ca_file || !kc.context) {
		kubeconfig_done(&kc);
		return -ENOMEM;
	}
	snprintf(kc.server, n, v6 ? "https://[%s]:%lu" : "https://%s:%lu", host, port_nr);
	if (access(kc.token_file, R_OK) < 0 || access(kc.ca_file, R_OK) < 0) {
		int rc = -errno;

		fail_buf(errbuf, errbuf_size, "in-cluster service account: %s: %s",
			 access(kc.token_file, R_OK) < 0 ? kc.token_file : kc.ca_file,
			 strerror(-rc));
		kubeconfig_done(&kc);
		return rc;
	}
	*ret_kc = kc;
	return 0;
}

int kubeconfig_read_token(const char *path, char **ret_token, char *errbuf, size_t errbuf_size)
{
	char *text = NULL, *start, *end;
	size_t len;
	int rc;

	rc = read_small_file(path, KUBECONFIG_MAX_TOKEN_BYTES, &text, &len);
	if (rc < 0) {
		fail_buf(errbuf, errbuf_size, "token file %s: %s", path,
			 rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return rc;
	}
	start = text;
	end = text + len;
	while (start < end && isspace((unsigned char)*start))
		start++;
	while (end > start && isspace((unsigned char)end[-1]))
		end--;
	if (start == end) {
		fail_buf(errbuf, errbuf_size, "token file %s: empty", path);
		rc = -EINVAL;
		goto out;
	}
	for (const char *p = start; p < end; p++) {
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
			fail_buf(errbuf, errbuf_size,
				 "token file %s: holds bytes that cannot go into an HTTP header",
				 path);
			rc = -EINVAL;
			goto out;
		}
	}
	*end = '\0';
	memmove(text, start, (size_t)(end - start) + 1);
	*ret_token = text;
	text = NULL;
	rc = 0;
out:
	free(text);
	return rc;
}
