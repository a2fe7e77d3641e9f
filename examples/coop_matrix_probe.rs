//! Can wgpu 30 reach this adapter's matrix units (NVIDIA tensor cores, through Vulkan's
//! VK_KHR_cooperative_matrix)? A minimal program for the device session that must answer it:
//! it prints the adapter's f16 and cooperative-matrix features and the tile shapes
//! `Adapter::cooperative_matrix_properties` lists, then, for each shape naga's WGSL can
//! express (16x16 and 8x8 tiles), multiplies two matrices with `coopMultiplyAdd`, checks the
//! product against the CPU and times a 2048³ GEMM made of such tiles.
//!
//! `cargo run --release --example coop_matrix_probe`. On an adapter without the feature
//! (lavapipe, wgpu's GL backend) it says so and exits 0. Not part of netc's kernels: the
//! answer decides whether conv kernels on tensor cores become tuner candidates.

use std::time::Instant;
use wgpu::util::DeviceExt;

/// One tile configuration: its WGSL tile type, element types, and the tile edge.
struct Config {
    name: &'static str,
    edge: u32,
    ab: &'static str,
    c: &'static str,
}

const CONFIGS: [Config; 3] = [
    Config {
        name: "16x16x16 f16 x f16 -> f32",
        edge: 16,
        ab: "f16",
        c: "f32",
    },
    Config {
        name: "16x16x16 f16 x f16 -> f16",
        edge: 16,
        ab: "f16",
        c: "f16",
    },
    Config {
        name: "8x8x8 f32 x f32 -> f32",
        edge: 8,
        ab: "f32",
        c: "f32",
    },
];

/// C [n, n] += A [n, n] B [n, n], all row-major; one subgroup-sized workgroup per tile of C.
fn shader(c: &Config, n: u32, lanes: u32) -> String {
    let e = c.edge;
    format!(
        "enable f16;\nenable wgpu_cooperative_matrix;\n\
         const N: u32 = {n}u;\nconst E: u32 = {e}u;\n\
         @group(0) @binding(0) var<storage, read> a: array<{ab}>;\n\
         @group(0) @binding(1) var<storage, read> b: array<{ab}>;\n\
         @group(0) @binding(2) var<storage, read_write> c: array<{cc}>;\n\
         @compute @workgroup_size({lanes})\n\
         fn main(@builtin(workgroup_id) wid: vec3<u32>) {{\n\
           let row = wid.y * E;\n  let col = wid.x * E;\n\
           var acc = coopLoadT<coop_mat{e}x{e}<{cc}, C>>(&c[row * N + col], N);\n\
           for (var k = 0u; k < N; k += E) {{\n\
             let ta = coopLoadT<coop_mat{e}x{e}<{ab}, A>>(&a[row * N + k], N);\n\
             let tb = coopLoadT<coop_mat{e}x{e}<{ab}, B>>(&b[k * N + col], N);\n\
             acc = coopMultiplyAdd(ta, tb, acc);\n\
           }}\n\
           coopStoreT(acc, &c[row * N + col], N);\n\
         }}\n",
        ab = c.ab,
        cc = c.c,
    )
}

/// `v` as the bytes of a buffer of `ty` (`f16` or `f32`).
fn bytes(v: &[f32], ty: &str) -> Vec<u8> {
    match ty {
        "f16" => v
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect(),
        _ => bytemuck::cast_slice(v).to_vec(),
    }
}

fn values(raw: &[u8], ty: &str) -> Vec<f32> {
    match ty {
        "f16" => raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => bytemuck::cast_slice(raw).to_vec(),
    }
}

fn main() {
    // The shaders are checked by naga first, on any machine: a refusal on the device then
    // means the driver path, not the WGSL.
    for c in &CONFIGS {
        let src = shader(c, 2048, 32);
        let checked = naga::front::wgsl::parse_str(&src)
            .map_err(|e| e.emit_to_string(&src))
            .and_then(|module| {
                naga::valid::Validator::new(
                    naga::valid::ValidationFlags::all(),
                    naga::valid::Capabilities::all(),
                )
                .validate(&module)
                .map(|_| ())
                .map_err(|e| e.emit_to_string(&src))
            });
        match checked {
            Ok(()) => println!("naga: the {} shader is valid WGSL", c.name),
            Err(e) => println!("naga: the {} shader is refused:\n{e}", c.name),
        }
    }
    pollster::block_on(run());
}

async fn run() {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle().with_env());
    let adapter = match instance
        .request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })
        .await
    {
        Ok(a) => a,
        Err(e) => {
            println!("no adapter: {e}");
            return;
        }
    };
    let info = adapter.get_info();
    let features = adapter.features();
    println!(
        "adapter: {} ({:?}, {} {}), subgroup size {}..{}",
        info.name,
        info.backend,
        info.driver,
        info.driver_info,
        info.subgroup_min_size,
        info.subgroup_max_size
    );
    let f16 = features.contains(wgpu::Features::SHADER_F16);
    let coop = features.contains(wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX);
    println!("SHADER_F16: {f16}; EXPERIMENTAL_COOPERATIVE_MATRIX: {coop}");
    let shapes = adapter.cooperative_matrix_properties();
    println!(
        "cooperative matrix shapes listed by the adapter: {}",
        shapes.len()
    );
    for s in &shapes {
        println!(
            "  {}x{}x{} {:?} x {:?} -> {:?}{}",
            s.m_size,
            s.n_size,
            s.k_size,
            s.ab_type,
            s.ab_type,
            s.cr_type,
            if s.saturating_accumulation {
                " (saturating)"
            } else {
                ""
            }
        );
    }
    if !(coop && f16) {
        println!(
            "result: this adapter offers no cooperative matrices to wgpu 30: its matrix units, \
             if any, cannot be used from WGSL here"
        );
        return;
    }
    // SAFETY: an experimental feature, used by this probe only, on a device it owns.
    let experimental = unsafe { wgpu::ExperimentalFeatures::enabled() };
    let (device, queue) = match adapter
        .request_device(&wgpu::DeviceDescriptor {
            label: Some("coop probe"),
            required_features: wgpu::Features::SHADER_F16
                | wgpu::Features::EXPERIMENTAL_COOPERATIVE_MATRIX,
            required_limits: adapter.limits(),
            experimental_features: experimental,
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        })
        .await
    {
        Ok(d) => d,
        Err(e) => {
            println!("result: the adapter lists the feature but refused a device with it: {e}");
            return;
        }
    };
    let lanes = info.subgroup_min_size.max(1);
    for config in &CONFIGS {
        probe(&device, &queue, config, lanes);
    }
}

fn probe(device: &wgpu::Device, queue: &wgpu::Queue, c: &Config, lanes: u32) {
    let n = 2048u32;
    let len = (n * n) as usize;
    // Small integers times powers of two: exact in f16, so the check is exact up to the
    // order of the f32 sums.
    let a: Vec<f32> = (0..len)
        .map(|i| ((i * 7 % 5) as f32 - 2.0) * 0.25)
        .collect();
    let b: Vec<f32> = (0..len)
        .map(|i| ((i * 3 % 7) as f32 - 3.0) * 0.125)
        .collect();
    let src = shader(c, n, lanes);
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(c.name),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(c.name),
        layout: None,
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(e) = pollster::block_on(scope.pop()) {
        println!("{}: the shader is refused: {e}", c.name);
        return;
    }
    let usage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
    let buffer = |label, data: Vec<u8>| {
        device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &data,
            usage,
        })
    };
    let (ab, bb) = (buffer("a", bytes(&a, c.ab)), buffer("b", bytes(&b, c.ab)));
    let cb = buffer("c", bytes(&vec![0.0; len], c.c));
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: ab.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: bb.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: cb.as_entire_binding(),
            },
        ],
    });
    let tiles = n / c.edge;
    let dispatch = |times: u32| {
        let mut enc = device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind, &[]);
            for _ in 0..times {
                pass.dispatch_workgroups(tiles, tiles, 1);
            }
        }
        queue.submit([enc.finish()]);
        let _ = device.poll(wgpu::PollType::wait_indefinitely());
    };
    dispatch(1);
    let read = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: cb.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut enc = device.create_command_encoder(&Default::default());
    enc.copy_buffer_to_buffer(&cb, 0, &read, 0, cb.size());
    queue.submit([enc.finish()]);
    read.slice(..).map_async(wgpu::MapMode::Read, |_| {});
    let _ = device.poll(wgpu::PollType::wait_indefinitely());
    let got = match read.slice(..).get_mapped_range() {
        Ok(view) => values(&view, c.c),
        Err(e) => {
            println!("{}: read-back failed: {e}", c.name);
            return;
        }
    };
    // Check a sample of rows against the CPU.
    let mut worst = 0f64;
    for row in (0..n as usize).step_by(97) {
        for col in (0..n as usize).step_by(89) {
            let want: f64 = (0..n as usize)
                .map(|k| f64::from(a[row * n as usize + k]) * f64::from(b[k * n as usize + col]))
                .sum();
            worst = worst.max((f64::from(got[row * n as usize + col]) - want).abs());
        }
    }
    let reps = 10;
    let t = Instant::now();
    dispatch(reps);
    let seconds = t.elapsed().as_secs_f64();
    let tflops = 2.0 * f64::from(n).powi(3) * f64::from(reps) / seconds / 1e12;
    println!(
        "{}: runs; worst error on sampled elements {worst:e}; {n}^3 GEMM at {tflops:.1} TFLOP/s (one {lanes}-lane subgroup per {e}x{e} tile, no staging)",
        c.name,
        e = c.edge
    );
}
