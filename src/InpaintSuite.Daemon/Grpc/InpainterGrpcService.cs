using Grpc.Core;
using InpaintSuite.Protocol.V1;

namespace InpaintSuite.Daemon.Grpc;

/// <summary>
/// inpaintsuite.v1.Inpainter on stock Grpc.AspNetCore: each method maps the wire request to a core job
/// (<see cref="WireMapping"/>), submits it to <see cref="InpainterService"/> and writes the job's events back.
/// The call's token (client reset, deadline) ends the event wait, which cancels the job. Errors are thrown as they
/// are; <see cref="ErrorInterceptor"/> turns them into statuses.
/// </summary>
public sealed class InpainterGrpcService(InpainterService service) : Inpainter.InpainterBase
{
    public override Task Inpaint(InpaintRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        StreamAsync(service.Submit(request), request.Image?.Format ?? PixelFormat.Rgba8, responseStream, context);

    public override Task Outpaint(OutpaintRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        StreamAsync(service.Submit(request), request.Image?.Format ?? PixelFormat.Rgba8, responseStream, context);

    public override Task ImageToImage(ImageToImageRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        StreamAsync(service.Submit(request), request.Image?.Format ?? PixelFormat.Rgba8, responseStream, context);

    public override Task DepthToImage(DepthToImageRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        StreamAsync(service.Submit(request), request.Image?.Format ?? PixelFormat.Rgba8, responseStream, context);

    public override Task TextToImage(TextToImageRequest request, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context) =>
        StreamAsync(service.Submit(request), request.Format == PixelFormat.Unspecified ? PixelFormat.Rgba8 : request.Format, responseStream, context);

    public override Task<CancelJobResponse> CancelJob(CancelJobRequest request, ServerCallContext context) => Task.FromResult(service.CancelJob(request));

    public override Task<ListModelsResponse> ListModels(ListModelsRequest request, ServerCallContext context) => Task.FromResult(service.ListModels());

    public override Task<Capabilities> GetCapabilities(GetCapabilitiesRequest request, ServerCallContext context) => Task.FromResult(service.GetCapabilities());

    private async Task StreamAsync(Job job, PixelFormat inputFormat, IServerStreamWriter<JobEvent> responseStream, ServerCallContext context)
    {
        await foreach (var e in service.EventsAsync(job, inputFormat, context.CancellationToken).ConfigureAwait(false))
            await responseStream.WriteAsync(e, context.CancellationToken).ConfigureAwait(false);
    }
}
