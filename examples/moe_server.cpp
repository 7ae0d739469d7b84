// moe_server — an OpenAI-compatible HTTP server for any supported checkpoint: continuous batching, the reasoning
// apart from the answer, and each request's energy bill (docs/serving.md).
//
//   moe_server -m models/tiny-reasoner --port 8080            then, e.g.:
//   curl -s localhost:8080/v1/chat/completions -H 'Content-Type: application/json'
//        -d '{"model": "tiny-reasoner", "messages": [{"role": "user", "content": "57486+68937"}]}'
//
// Routes: GET /health, GET /v1/models, POST /v1/chat/completions, POST /v1/completions (stream or not). Flags follow
// llama-server's names where they overlap. The model type is chosen at compile time as moe_cli chooses it (the first
// type of the list that matches config.json or the GGUF metadata; moe_add_model_executable builds for your own).
//
// Threads: the HTTP library's workers parse requests and write responses; one scheduler thread owns the model
// (moe/serving/scheduler.hpp). A request is checked completely before it is queued, so a bad one costs no model
// time. While a request runs, its connection gets a write every second at the latest (a token, or else an SSE
// comment / a blank line before the JSON), so a client that went away is noticed and its request cancelled.
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "moe/ledger/energy.hpp"
#include "moe/models.hpp"
#include "moe/models/cpu.hpp"
#include "moe/models/gguf/tokenizer.hpp"
#include "moe/serving/openai_request.hpp"
#include "moe/serving/openai_response.hpp"
#include "moe/serving/scheduler.hpp"
#include "moe/text/tokenizer.hpp"

// After Eigen: the system headers httplib pulls in define macros (`res`) that Eigen's templates use as names.
#include <httplib.h>

#ifdef MOE_MODELS_HEADER
#include MOE_MODELS_HEADER  // moe_models::checkpoint_models, written by moe_card
#endif

namespace {

#ifdef MOE_MODELS_HEADER
using known_models = moe_models::checkpoint_models;
#else
using known_models = moe::join_model_lists<moe::model_list<moe::cpu::tiny_reasoner>, moe::cpu::released_models>;
#endif

using moe::serving::api_error;
using nlohmann::json;

struct options {
    std::filesystem::path model;
    std::string host = "127.0.0.1";
    int port = 8080;
    int threads = 2;
    std::int64_t context = 0;
    int parallel = 4;
    std::size_t queue = 64;
    std::string api_key;
    std::string alias;
    std::string chat_template = "auto";
    std::size_t max_body = 8 << 20;
    std::int64_t prompt_cache_mib = 256;
};

[[noreturn]] void usage(const std::string& problem) {
    std::fprintf(stderr,
                 "moe_server: %s\n"
                 "usage: moe_server -m MODEL [options]        MODEL: a checkpoint directory or a .gguf file\n"
                 "  --host H                 address to listen on (default 127.0.0.1)\n"
                 "  --port N                 port (default 8080; 0: any free port, printed when bound)\n"
                 "  -t, --threads N          threads of the model (default 2)\n"
                 "  -c, --ctx-size N         positions per sequence (default: the checkpoint's max_position_embeddings)\n"
                 "  -np, --parallel N        sequences decoded at once, over all requests (default 4)\n"
                 "  --queue N                requests waiting beyond those; more get 503 (default 64)\n"
                 "  --api-key KEY            require 'Authorization: Bearer KEY' on /v1/ routes\n"
                 "  --alias NAME             the model id clients name (default: the checkpoint's name)\n"
                 "  --chat-template NAME     auto, qwen3, deepseek_r1, mistral or none\n"
                 "  --max-body-bytes N       largest request body (default 8 MiB; larger: 413)\n"
                 "  --prompt-cache-mib N     KV cache kept of recent prompts for requests that repeat or extend them\n"
                 "                           (default 256; 0: off)\n",
                 problem.c_str());
    std::exit(2);
}

long integer(const std::string& flag, const char* text, long low, long high) {
    char* end = nullptr;
    errno = 0;
    const long n = std::strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || n < low || n > high)
        usage(flag + " needs an integer in [" + std::to_string(low) + ", " + std::to_string(high) + "], got '" + text + "'");
    return n;
}

options parse(int argc, char** argv) {
    options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> const char* {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        if (a == "-m" || a == "--model") o.model = value();
        else if (a == "--host") o.host = value();
        else if (a == "--port") o.port = int(integer(a, value(), 0, 65535));
        else if (a == "-t" || a == "--threads") o.threads = int(integer(a, value(), 1, 1024));
        else if (a == "-c" || a == "--ctx-size") o.context = integer(a, value(), 0, 1L << 30);
        else if (a == "-np" || a == "--parallel") o.parallel = int(integer(a, value(), 1, 4096));
        else if (a == "--queue") o.queue = std::size_t(integer(a, value(), 0, 1 << 20));
        else if (a == "--api-key") o.api_key = value();
        else if (a == "--alias") o.alias = value();
        else if (a == "--max-body-bytes") o.max_body = std::size_t(integer(a, value(), 1024, 1L << 30));
        else if (a == "--prompt-cache-mib") o.prompt_cache_mib = integer(a, value(), 0, 1L << 30);
        else if (a == "--chat-template") {
            o.chat_template = value();
            if (o.chat_template != "auto" && o.chat_template != "qwen3" && o.chat_template != "deepseek_r1" &&
                o.chat_template != "mistral" && o.chat_template != "none")
                usage("unknown chat template '" + o.chat_template + "'");
        } else if (a == "-h" || a == "--help") usage("help");
        else if (!a.empty() && a[0] == '-') usage("unknown flag '" + a + "'");
        else if (o.model.empty()) o.model = a;
        else usage("unexpected argument '" + a + "'");
    }
    if (o.model.empty()) usage("give a model: -m CHECKPOINT_DIR or -m FILE.gguf");
    return o;
}

// The model id: --alias, else the directory's name or the file's stem.
std::string model_id(const options& o) {
    if (!o.alias.empty()) return o.alias;
    std::filesystem::path p = o.model;
    if (!p.has_filename()) p = p.parent_path();
    return moe::io::is_gguf_file(o.model) ? p.stem().string() : p.filename().string();
}

std::optional<moe::text::chat_family> chat_family_of(const options& o, moe::model_family f) {
    const std::string& name = o.chat_template;
    if (name == "qwen3") return moe::text::chat_family::qwen3;
    if (name == "deepseek_r1") return moe::text::chat_family::deepseek_r1;
    if (name == "mistral") return moe::text::chat_family::mistral;
    if (name == "none") return std::nullopt;
    if (moe::io::is_gguf_file(o.model)) return moe::text::chat_family_from_gguf(moe::io::gguf_file(o.model));
    switch (f) {
        case moe::model_family::qwen3_moe: return moe::text::chat_family::qwen3;
        case moe::model_family::deepseek_v3: return moe::text::chat_family::deepseek_r1;
        case moe::model_family::mixtral: return moe::text::chat_family::mistral;
        default: return std::nullopt;
    }
}

moe::text::tokenizer tokenizer_of(const options& o) {
    if (moe::io::is_gguf_file(o.model)) return moe::text::tokenizer_from_gguf(moe::io::gguf_file(o.model));
    if (std::error_code ec; !std::filesystem::exists(o.model / "tokenizer.json", ec))
        throw moe::invalid_argument((o.model / "tokenizer.json").string() + " does not exist: moe_server needs the checkpoint's tokenizer");
    return moe::text::tokenizer::from_file(o.model / "tokenizer.json");
}

// What the HTTP side needs from a loaded model, whatever its type.
class service {
   public:
    virtual ~service() = default;
    virtual const moe::serving::served_model& served() const = 0;
    virtual const moe::text::tokenizer& tokenizer() const = 0;
    virtual std::shared_ptr<moe::serving::request_handle> submit(moe::serving::request r) = 0;
    virtual json card() const = 0;
};

template <class Model>
class model_service final : public service {
   public:
    model_service(const options& o, std::string id)
        : tok_(tokenizer_of(o)),
          model_(moe::load_model<Model>(o.model, {.max_positions = o.context})),
          pool_(o.threads),
          meter_(moe::ledger::open_meter()),
          cost_(moe::ledger::cost_of<Model>()),
          scheduler_(model_, tok_, pool_, moe::serving::batch_meter(cost_, meter_.meter.get()),
                     {.prompt_cache_bytes = o.prompt_cache_mib << 20, .parallel_sequences = o.parallel,
                      .queue = o.queue},
                     meter_.note) {
        served_.id = std::move(id);
        served_.context = model_.max_positions();
        served_.parallel_sequences = o.parallel;
        served_.chat = chat_family_of(o, Model::config.family);
        for (const char* stop : {"<|im_end|>", "<|endoftext|>", "<｜end▁of▁sentence｜>", "</s>"})
            if (const auto id = tok_.special_token_id(stop)) served_.stop_tokens.push_back(*id);
        if (const auto eos = tok_.eos_token())
            if (const auto id = tok_.token_to_id(*eos)) served_.stop_tokens.push_back(*id);
    }

    const moe::serving::served_model& served() const override { return served_; }
    const moe::text::tokenizer& tokenizer() const override { return tok_; }
    std::shared_ptr<moe::serving::request_handle> submit(moe::serving::request r) override {
        return scheduler_.submit(std::move(r));
    }
    json card() const override {
        return {{"family", cost_.family},
                {"parameters_total", cost_.parameters_total},
                {"parameters_active", cost_.parameters_active},
                {"context", served_.context},
                {"parallel_sequences", served_.parallel_sequences},
                {"energy", meter_.meter ? meter_.note : "estimate (" + meter_.note + ")"}};
    }

   private:
    moe::text::tokenizer tok_;
    Model model_;
    moe::cpu::thread_pool pool_;
    moe::ledger::opened_meter meter_;
    moe::ledger::model_cost cost_;
    moe::serving::served_model served_;
    moe::serving::scheduler<Model> scheduler_;
};

void send_json(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(moe::serving::dump(body), "application/json");
}

void send_error(httplib::Response& res, const api_error& e) { send_json(res, e.status(), e.body()); }

// Equal strings take the same time to compare whatever their first difference (an API key check must not say how
// much of a guess was right).
bool constant_time_equal(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const std::size_t n = std::max(a.size(), b.size());
    for (std::size_t i = 0; i < n; ++i) {
        const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
        const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
        diff |= static_cast<unsigned char>(x ^ y);
    }
    return diff == 0;
}

class http_front {
   public:
    explicit http_front(const options& o) : options_(o), id_(model_id(o)) {
        // One worker per request that can be in the server at once (running + waiting), and a few for /health,
        // refusals and idle keep-alive connections.
        const std::size_t workers = std::size_t(o.parallel) + o.queue + 8;
        server_.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
        server_.set_payload_max_length(o.max_body);
        server_.set_keep_alive_timeout(5);
        server_.set_read_timeout(5);  // per read: a stalled client cannot hold a worker (or shutdown) longer
        server_.set_write_timeout(30);

        server_.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
            if (res.status == 404) {
                send_error(res, api_error(404, "not_found_error", "no route " + req.method + " " + req.path +
                                                                      " (routes: GET /health, GET /v1/models, POST "
                                                                      "/v1/chat/completions, POST /v1/completions)"));
            } else if (res.status == 413) {
                send_error(res, api_error(413, "invalid_request_error", "the request body is larger than " +
                                                                            std::to_string(options_.max_body) +
                                                                            " bytes (--max-body-bytes)"));
            } else {
                send_error(res, api_error(res.status, "invalid_request_error", "the HTTP request could not be read"));
            }
            return httplib::Server::HandlerResponse::Handled;
        }));
        server_.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr e) {
            std::string what = "internal error";
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                what = x.what();
            } catch (...) {
            }
            send_error(res, api_error(500, "server_error", what));
        });

        server_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
            if (service_.load()) send_json(res, 200, {{"status", "ok"}});
            else send_json(res, 503, {{"status", "loading model"},
                                      {"error", {{"message", "loading the model"}, {"type", "unavailable_error"}}}});
        });
        server_.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
            if (!authorized(req, res)) return;
            json data = json::array();
            if (const service* s = service_.load()) {
                data.push_back({{"id", s->served().id}, {"object", "model"}, {"created", started_},
                                {"owned_by", "moe"}, {"meta", s->card()}});
            }
            send_json(res, 200, {{"object", "list"}, {"data", data}});
        });
        server_.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
            complete(req, res, moe::serving::endpoint::chat);
        });
        server_.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
            complete(req, res, moe::serving::endpoint::completions);
        });
        for (const char* route : {"/v1/chat/completions", "/v1/completions"})
            server_.Get(route, [](const httplib::Request& req, httplib::Response& res) {
                send_error(res, api_error(405, "invalid_request_error", req.path + " takes POST"));
            });
        for (const char* route : {"/health", "/v1/models"})
            server_.Post(route, [](const httplib::Request& req, httplib::Response& res) {
                send_error(res, api_error(405, "invalid_request_error", req.path + " takes GET"));
            });
    }

    // Binds; returns the port, or throws.
    int bind() {
        const int port = options_.port == 0 ? server_.bind_to_any_port(options_.host)
                                            : (server_.bind_to_port(options_.host, options_.port) ? options_.port : -1);
        if (port <= 0) {
            throw std::runtime_error("cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                                     " (in use, or not an address of this machine)");
        }
        return port;
    }
    void listen() {
        server_.listen_after_bind();
        listen_returned_.store(true);
    }
    void serve(service* s) { service_.store(s); }
    // Stops accepting; requests in progress are cancelled at their next wait. Waits for the listener to have
    // started: httplib's stop() before listen would be lost, and listen would then never return.
    void stop() {
        stopping_.store(true);
        while (!server_.is_running() && !listen_returned_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        server_.stop();
    }

   private:
    // --api-key: checked in the handlers, after the body was read, so that a refused request leaves its
    // keep-alive connection at the next request's first byte.
    bool authorized(const httplib::Request& req, httplib::Response& res) const {
        if (options_.api_key.empty()) return true;
        const std::string auth = req.get_header_value("Authorization");
        const std::string_view bearer = "Bearer ";
        if (auth.starts_with(bearer) && constant_time_equal(std::string_view(auth).substr(bearer.size()), options_.api_key))
            return true;
        send_error(res, api_error(401, "authentication_error",
                                  auth.empty() ? "no API key: send 'Authorization: Bearer KEY'" : "invalid API key",
                                  std::nullopt, "invalid_api_key"));
        return false;
    }

    void complete(const httplib::Request& req, httplib::Response& res, moe::serving::endpoint kind) {
        if (!authorized(req, res)) return;
        service* s = service_.load();
        if (!s) {
            send_json(res, 503, api_error(503, "unavailable_error", "the model is still loading").body());
            return;
        }
        moe::serving::parsed_request p;
        std::shared_ptr<moe::serving::request_handle> handle;
        try {
            p = moe::serving::parse_request(req.body, kind, s->served(), s->tokenizer());
            handle = s->submit(p.core);
        } catch (const api_error& e) {
            send_error(res, e);
            return;
        } catch (const moe::serving::queue_full& e) {
            send_error(res, api_error(503, "overloaded_error", e.what(), std::nullopt, "queue_full"));
            return;
        } catch (const moe::serving::request_cancelled& e) {
            send_error(res, api_error(503, "unavailable_error", e.what()));
            return;
        } catch (const std::invalid_argument& e) {  // moe::invalid_argument from submit: cannot run
            send_error(res, moe::serving::bad_request(e.what()));
            return;
        }
        const moe::serving::response_header header{
            (kind == moe::serving::endpoint::chat ? "chatcmpl-" : "cmpl-") + std::to_string(started_) + "-" +
                std::to_string(++requests_),
            std::int64_t(std::time(nullptr)), s->served().id};
        const moe::text::tokenizer& tok = s->tokenizer();
        auto released = [handle](bool success) {
            if (!success) handle->cancel();  // the client went away, or a write failed
        };
        if (p.stream) {
            res.set_header("Cache-Control", "no-cache");
            res.set_chunked_content_provider(
                "text/event-stream",
                [this, p, header, handle, &tok](std::size_t, httplib::DataSink& sink) {
                    auto send = [&](const std::string& data) { return sink.write(data.data(), data.size()); };
                    auto event = [&](const json& chunk) { return send("data: " + moe::serving::dump(chunk) + "\n\n"); };
                    const int choices = p.core.generation.branches;
                    if (p.kind == moe::serving::endpoint::chat && !event(moe::serving::stream_start(p, header, choices))) return false;
                    std::vector<std::size_t> offsets(std::size_t(choices), 0);
                    auto quiet = std::chrono::steady_clock::now();
                    while (true) {
                        if (stopping_.load()) return false;
                        auto events = handle->wait_events(std::chrono::milliseconds(250));
                        for (const auto& e : events) {
                            const json chunk = moe::serving::stream_event(p, header, e, tok, offsets[e.branch]);
                            if (e.stream == moe::decoding::text_stream::answer) offsets[e.branch] += e.text.size();
                            if (!chunk.is_null() && !event(chunk)) return false;
                            quiet = std::chrono::steady_clock::now();
                        }
                        if (!events.empty()) continue;
                        if (handle->done()) break;
                        if (std::chrono::steady_clock::now() - quiet > std::chrono::seconds(1)) {
                            if (!send(": keep-alive\n\n")) return false;  // notices a client that left
                            quiet = std::chrono::steady_clock::now();
                        }
                    }
                    try {
                        const auto& o = handle->result();
                        if (!event(moe::serving::stream_finish(p, header, o))) return false;
                        if (p.include_usage && !event(moe::serving::stream_usage(p, header, o))) return false;
                    } catch (const std::exception& e) {
                        if (!event(api_error(500, "server_error", e.what()).body())) return false;
                    }
                    if (!send("data: [DONE]\n\n")) return false;
                    sink.done();
                    return true;
                },
                released);
            return;
        }
        // Not streamed: the JSON once the request finished; blank lines (JSON whitespace) while it runs, so a
        // client that left is noticed.
        res.set_chunked_content_provider(
            "application/json",
            [this, p, header, handle, &tok](std::size_t, httplib::DataSink& sink) {
                auto quiet = std::chrono::steady_clock::now();
                while (!handle->done()) {
                    if (stopping_.load()) return false;
                    handle->wait_events(std::chrono::milliseconds(250));
                    if (std::chrono::steady_clock::now() - quiet > std::chrono::seconds(1)) {
                        if (!sink.write("\n", 1)) return false;
                        quiet = std::chrono::steady_clock::now();
                    }
                }
                std::string body;
                try {
                    body = moe::serving::dump(moe::serving::response_body(p, handle->result(), header, tok));
                } catch (const std::exception& e) {  // the status is sent already: the error object says it
                    body = moe::serving::dump(api_error(500, "server_error", e.what()).body());
                }
                if (!sink.write(body.data(), body.size())) return false;
                sink.done();
                return true;
            },
            released);
    }

    const options& options_;
    std::string id_;
    httplib::Server server_;
    std::atomic<service*> service_{nullptr};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> listen_returned_{false};
    std::atomic<std::uint64_t> requests_{0};
    std::int64_t started_ = std::int64_t(std::time(nullptr));
};

}  // namespace

int main(int argc, char** argv) {
    const options opt = parse(argc, argv);

    // SIGINT / SIGTERM end the server cleanly: blocked in every thread, taken by one that waits for them.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a client that leaves mid-write is an error return, not the end of the server

    http_front front(opt);
    int port = 0;
    try {
        port = front.bind();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moe_server: %s\n", e.what());
        return 1;
    }
    std::printf("moe_server: listening on http://%s:%d\n", opt.host.c_str(), port);
    std::fflush(stdout);
    std::thread listener([&] { front.listen(); });

    std::mutex mutex;
    std::condition_variable stop_cv;
    bool stop = false;
    std::thread waiter([&] {
        int sig = 0;
        sigwait(&signals, &sig);
        {
            std::lock_guard lock(mutex);
            stop = true;
        }
        stop_cv.notify_all();
    });
    auto shut_down = [&](int status) {
        front.stop();
        listener.join();
        if (!stop) pthread_kill(waiter.native_handle(), SIGTERM);
        waiter.join();
        return status;
    };

    int status = 0;
    try {
        const bool gguf = moe::io::is_gguf_file(opt.model);
        const std::filesystem::path config = gguf ? opt.model : opt.model / "config.json";
        if (gguf) (void)moe::io::gguf_file(config);
        else (void)moe::hf_config(config);
        std::string mismatches;
        const bool found = moe::with_matching_model(known_models{}, config, [&]<class Model>() {
            model_service<Model> service(opt, model_id(opt));
            front.serve(&service);
            std::fprintf(stderr, "moe_server: serving %s as '%s' (%s, context %lld, %d parallel sequences)\n",
                         opt.model.c_str(), service.served().id.c_str(), moe::ledger::cost_of<Model>().family.c_str(),
                         (long long)service.served().context, opt.parallel);
            std::unique_lock lock(mutex);
            stop_cv.wait(lock, [&] { return stop; });
            lock.unlock();
            front.stop();  // no new requests; those running see stopping_ and end
            listener.join();
            front.serve(nullptr);
        }, mismatches);
        if (!found) {
            std::fprintf(stderr, "moe_server: no compiled model type matches %s:%s\n"
                         "(moe_card %s prints its type; moe_add_model_executable builds for your checkpoints, docs/integration.md)\n",
                         opt.model.c_str(), mismatches.c_str(), opt.model.c_str());
            status = 1;
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "moe_server: %s\n", e.what());
        status = 1;
    }
    if (listener.joinable()) return shut_down(status);
    if (!stop) pthread_kill(waiter.native_handle(), SIGTERM);
    waiter.join();
    return status;
}
